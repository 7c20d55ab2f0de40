"""`make bench`: print the figures, each measured against its baseline in the same run. Asserts nothing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    var = ROOT / "var" / "bench"
    shutil.rmtree(var, ignore_errors=True)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="console.settings", MILLRACE_VAR_DIR=str(var), MILLRACE_HTTPS="off",
        MILLRACE_AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x",
        AWS_DEFAULT_REGION="us-east-1", LOG_LEVEL="WARNING", EMAIL_URL="dummymail://",
    )  # fmt: skip
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/").close()
                break
            except OSError:
                time.sleep(0.2)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from unittest import mock

        with mock.patch("ingest.tasks.start_initial_load.delay"), mock.patch("ingest.tasks.scan_segment.delay"):
            run_all(endpoint)
    finally:
        server.terminate()
        server.wait()


def run_all(endpoint: str) -> None:
    from bench import conversion, latency, scan

    database = os.environ.get("DATABASE_URL", "SQLite under var/bench")
    print(f"Millrace benchmarks; database {database}; AWS: moto server at {endpoint}; {os.cpu_count()} CPUs\n")
    conversion.main()
    print()
    scan.pipeline_vs_bare(endpoint)
    print()
    scan.rcu_adherence(endpoint)
    print()
    latency.sync_latency(endpoint, rate=50)
    result = latency.sync_latency(endpoint, rate=200)
    latency.idle_calls_per_hour(result["source_id"])


if __name__ == "__main__":
    main()
