"""LOG_FORMAT=json: one JSON object a line, with the collection and shard a line is about as fields."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import logging, django
from types import SimpleNamespace
django.setup()
from ingest import logs
source = SimpleNamespace(collection="commons.orders")
shard = SimpleNamespace(shard_id="shardId-0001", source=source)
logging.getLogger("ingest.stream").warning("GetRecords of %s failed", "shardId-0001", extra=logs.about(shard=shard))
"""


def log_line(tmp_path: Path, **env: str) -> str:
    clean = dict(os.environ, DJANGO_SETTINGS_MODULE="console.settings", MILLRACE_VAR_DIR=str(tmp_path), **env)
    clean.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stderr.strip().splitlines()[-1]


def test_json_logs_carry_the_collection_and_shard_as_fields(tmp_path):
    line = json.loads(log_line(tmp_path, LOG_FORMAT="json"))
    assert line["level"] == "WARNING" and line["logger"] == "ingest.stream"
    assert line["message"] == "GetRecords of shardId-0001 failed"
    assert (line["collection"], line["shard"]) == ("commons.orders", "shardId-0001")


def test_plain_logs_stay_the_default(tmp_path):
    line = log_line(tmp_path)
    assert line.endswith("WARNING ingest.stream: GetRecords of shardId-0001 failed")
