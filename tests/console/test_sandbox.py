from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from console.processes import popen_bound
from console.sandbox.seed import seed

ROOT = Path(__file__).resolve().parents[2]


def test_the_sample_tables_have_what_the_console_needs():
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        created = seed(session, None, "us-east-1", orders=120, customers=10)
        assert len(created) == 4
        dynamodb = session.client("dynamodb")
        orders = dynamodb.describe_table(TableName="orders")["Table"]
        assert orders["ProvisionedThroughput"]["ReadCapacityUnits"] == 100
        assert orders["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        backups = dynamodb.describe_continuous_backups(TableName="orders")["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
        customers = dynamodb.describe_table(TableName="customers")["Table"]
        assert customers["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert "StreamSpecification" not in customers

        items = dynamodb.scan(TableName="orders")["Items"]
        assert len(items) == 120
        types = {t for item in items for value in item.values() for t in value}
        assert types >= {"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"}
        ledger = items[0]["ledger_total"]["N"]
        assert len(ledger.replace(".", "")) == 38
        assert items[0]["receipt_pdf_head"]["B"].startswith(b"%PDF")  # the bytes themselves, encoded once on the wire
        assert any(item.get("notes") == {"S": ""} and item.get("returns") == {"L": []} for item in items)
        assert session.client("s3").head_bucket(Bucket="millrace-exports")
        # a second run finds everything in place and creates nothing
        assert seed(session, None, "us-east-1", orders=120, customers=10) == []


def heartbeats(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT count(*) FROM console_heartbeat").fetchone()[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.e2e
def test_make_run_starts_everything_and_ctrl_c_stops_it(tmp_path):
    """`manage.py serve` (what `make run` starts): web, worker, beat and the sandbox; SIGINT stops them all."""
    import urllib.request

    web_port, sandbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(MILLRACE_VAR_DIR=str(tmp_path), MILLRACE_SANDBOX_ORDERS="200", PORT=str(web_port),
               MILLRACE_SANDBOX_PORT=str(sandbox_port))  # fmt: skip
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    process = popen_bound([sys.executable, "manage.py", "serve"], cwd=ROOT, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)  # never let the pipe fill
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if any("Millrace is running" in line for line in list(lines)):
                break
            time.sleep(0.2)
        assert f"open http://127.0.0.1:{web_port}/" in "".join(lines), "".join(lines)
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/setup/") as response:
            page = response.read().decode()
        assert "Set up Millrace" in page and "local AWS sandbox" in page
        tables = boto3.client(
            "dynamodb", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{sandbox_port}",
            aws_access_key_id="x", aws_secret_access_key="x",
        ).list_tables()["TableNames"]  # fmt: skip
        assert sorted(tables) == ["customers", "orders"]
        # The worker and beat are up when beat's supervisor tick has been run by the worker.
        database = tmp_path / "millrace.sqlite3"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not heartbeats(database):
            time.sleep(0.5)
        assert heartbeats(database), "".join(lines[-40:])
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=40)
        reader.join(timeout=10)
    rest = "".join(lines)
    assert process.returncode == 0, rest[-3000:]
    assert "Stopped." in rest
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{web_port}/healthz", timeout=2)
