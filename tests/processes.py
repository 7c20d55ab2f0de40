"""Start the real processes users run (a Celery worker) against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from console.processes import kill_group, popen_bound
from tests.services_up import reachable

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """The URL of the database this test run created, for a subprocess to open."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}{port}/{db['NAME']}"


def redis_url() -> str:
    """The Redis the tests use; skipped (loudly) when there is none, unless CI requires it."""
    url = os.environ.get("MILLRACE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    if not reachable(url, 6379):
        if os.environ.get("MILLRACE_REQUIRE_REDIS"):
            pytest.fail(f"Redis is required (MILLRACE_REQUIRE_REDIS) but nothing answers at {url}")
        pytest.skip(f"no Redis at {url}: set MILLRACE_TEST_REDIS_URL to run the tests that need one")
    return url


@contextmanager
def celery_worker(
    broker_url: str, *, beat: bool = False, log: Path | None = None, **extra_env: str
) -> Iterator[subprocess.Popen]:
    """A real worker on the test database; with `beat`, Celery beat runs inside it (the supervisor tick)."""
    env = dict(
        os.environ,
        DATABASE_URL=test_database_url(),
        CELERY_BROKER_URL=broker_url,
        SECRET_KEY=settings.SECRET_KEY,
        MILLRACE_ENCRYPTION_KEYS=",".join(settings.MILLRACE_ENCRYPTION_KEYS),
        **extra_env,
    )
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "console",
        "worker",
        "-l",
        "info",
        "--concurrency",
        "2",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-n",
        f"test{os.getpid()}@%h",
    ]
    if beat:
        command += ["-B", "-s", str(Path(settings.VAR_DIR) / f"beat-{os.getpid()}")]
    output = open(log, "a") if log else subprocess.PIPE  # noqa: SIM115 - closed with the process below
    # A group of its own (so that kill_worker takes its pool too), and killed by the kernel when this test
    # run dies, however it dies: a worker left behind holds connections to the test database.
    process = popen_bound(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                kill_worker(process)
        if log:
            output.close()


def kill_worker(process: subprocess.Popen) -> None:
    """SIGKILL the worker and its pool processes at once, as when its machine dies."""
    kill_group(process)


@contextmanager
def bound_process(command: list[str], *, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """Any long-running process (gunicorn, a worker, beat) in a group of its own, output to `log`, killed by
    the kernel if this test run dies, and stopped (SIGTERM, then SIGKILL of its group) when the block ends."""
    output = open(log, "a")  # noqa: SIM115 - closed with the process below
    process = popen_bound(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)
        kill_group(process)  # its children too (gunicorn's workers, Celery's pool)
        output.close()
