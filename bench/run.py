"""`make bench`: print the figures, each measured against its baseline in the same run. Asserts nothing."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_postgres_database(url: str) -> None:
    """A fresh bench database, so figures never depend on what an earlier run left."""
    if not url.startswith("postgres"):
        return
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    from console.processes import popen_bound

    var = ROOT / "var" / "bench"
    shutil.rmtree(var, ignore_errors=True)
    create_postgres_database(os.environ.get("DATABASE_URL", ""))
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="console.settings", MILLRACE_VAR_DIR=str(var), MILLRACE_HTTPS="off",
        MILLRACE_AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x",
        AWS_DEFAULT_REGION="us-east-1", LOG_LEVEL="WARNING", EMAIL_URL="dummymail://",
    )  # fmt: skip
    # PostgreSQL is a shared database: console/settings.py wants its keys from the environment.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("MILLRACE_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    # moto behind a call counter (bench/moto_counting.py): the shards bench counts a worker's calls there.
    # Bound to this process (console/processes.py): a killed bench leaves no server on its port.
    server = popen_bound([sys.executable, "-m", "bench.moto_counting", "-p", str(port)], cwd=ROOT,
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
    """Every benchmark, or those named on the command line (`bench/run.py export`)."""
    from bench import (
        conversion,
        export,
        lambdas,
        latency,
        metrics,
        query_pages,
        scan,
        shards,
        sql_vs_hand,
        stream_apply,
        translation,
    )

    def sync_latency() -> None:
        latency.sync_latency(endpoint, rate=50)
        result = latency.sync_latency(endpoint, rate=200)
        latency.idle_calls_per_hour(result["source_id"])

    benchmarks = {
        "conversion": conversion.main,
        "scan": lambda: (
            scan.pipeline_vs_bare(endpoint),
            print(),
            scan.rcu_adherence(endpoint, latencies=tuple(scan.LATENCIES)),
        ),
        "rcu": lambda: scan.rcu_adherence(endpoint),
        "rcu-slow": lambda: scan.rcu_adherence_slow_calls(endpoint),
        "latency": sync_latency,
        "export": lambda: export.main(Path(os.environ["MILLRACE_VAR_DIR"]) / "export"),
        "shards": lambda: shards.main(endpoint),
        "stream-apply": stream_apply.main,
        "translation": translation.main,
        "query-pages": query_pages.main,
        "lambdas": lambdas.main,
        "sql-vs-hand": sql_vs_hand.main,
        "metrics": lambda: metrics.main(endpoint),
    }
    chosen = sys.argv[1:] or list(benchmarks)
    database = os.environ.get("DATABASE_URL", "SQLite under var/bench")
    print(f"Millrace benchmarks; database {database}; AWS: moto server at {endpoint}; {os.cpu_count()} CPUs\n")
    for name in chosen:
        benchmarks[name]()
        print()


if __name__ == "__main__":
    main()
