"""`manage.py serve` (what `make run` starts) supervises its children and never leaves one behind.

Each test starts the real launcher (web, worker, beat; no sandbox, which has a test of its own below) on
free ports in a var/ folder of its own, then kills something and polls, with generous deadlines, for the
outcome. Nothing here measures time: a busy machine only makes the polls take longer.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from console.processes import descendants, is_alive, kill_group, popen_bound, stop_group, wait_gone

ROOT = Path(__file__).resolve().parents[2]
STARTUP = 120.0  # seconds; a loaded 2-CPU machine starts Django and Celery slowly


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def poll(condition: Callable[[], object], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


@dataclass
class Launcher:
    process: subprocess.Popen
    port: int
    var: Path
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "".join(self.lines[-80:])

    def child(self, name: str) -> int | None:
        """The pid of the launcher's direct child running `name` (`worker`, `beat`, `runserver`)."""
        for pid in descendants(self.process.pid):
            if parent_of(pid) == self.process.pid and f" {name} " in command_line(pid) + " " and is_alive(pid):
                return pid
        return None

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    def last_tick(self) -> str:
        """When the worker last ran beat's supervisor tick (sent by beat through the embedded broker)."""
        try:
            with sqlite3.connect(self.var / "millrace.sqlite3", timeout=20) as connection:
                row = connection.execute("SELECT max(seen_at) FROM console_heartbeat").fetchone()
        except sqlite3.OperationalError:
            return ""
        return row[0] or ""


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database for the module, copied into each test's var/ (migrating takes seconds)."""
    var = tmp_path_factory.mktemp("launcher-template")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=launcher_env(var), check=True)
    return var / "millrace.sqlite3"


def launcher_env(var: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "MILLRACE_AWS_ENDPOINT_URL"):
        env.pop(name, None)
    env.update(MILLRACE_VAR_DIR=str(var), MILLRACE_TICK_SECONDS="1", AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")  # fmt: skip
    return env


@pytest.fixture
def launcher(migrated: Path, tmp_path: Path) -> Iterator[Launcher]:
    var = tmp_path / "var"
    var.mkdir()
    (var / "millrace.sqlite3").write_bytes(migrated.read_bytes())
    port = free_port()
    process = popen_bound(
        [sys.executable, "manage.py", "serve", "--no-sandbox", "--port", str(port)],
        cwd=ROOT, env=launcher_env(var), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    running = Launcher(process, port, var)
    threading.Thread(target=lambda: running.lines.extend(process.stdout), daemon=True).start()
    try:
        assert poll(lambda: "Millrace is running" in running.output() or process.poll() is not None, STARTUP)
        assert process.poll() is None, running.output()
        yield running
    finally:
        family = descendants(process.pid)
        kill_group(process)  # quickest; its children die with it (what the last test checks)
        for pid in wait_gone(family, 10):  # never leave one behind, whatever the test did
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.e2e
def test_a_killed_worker_is_restarted_and_the_console_keeps_answering(launcher: Launcher) -> None:
    assert poll(lambda: launcher.child("worker"), 30), launcher.output()
    assert poll(launcher.last_tick, STARTUP), f"beat's tick never reached the worker\n{launcher.output()}"
    worker = launcher.child("worker")
    os.kill(worker, signal.SIGKILL)

    assert poll(lambda: "worker restarted" in launcher.output(), 60), launcher.output()
    assert "worker exited with code -9" in launcher.output()
    assert launcher.healthy(), launcher.output()
    new_worker = launcher.child("worker")
    assert new_worker and new_worker != worker
    # The new worker really works: beat's tick reaches it through the embedded broker.
    tick = launcher.last_tick()
    assert poll(lambda: launcher.last_tick() > tick, STARTUP), launcher.output()
    assert launcher.process.poll() is None
    assert launcher.healthy()


@pytest.mark.e2e
def test_sigterm_stops_every_child_within_seconds(launcher: Launcher) -> None:
    assert poll(lambda: len(descendants(launcher.process.pid)) >= 7, 60)  # web, beat, worker and its pool of 4
    family = descendants(launcher.process.pid)
    launcher.process.send_signal(signal.SIGTERM)
    launcher.process.wait(timeout=40)
    assert wait_gone(family, 10) == [], launcher.output()
    assert launcher.process.returncode == 0, launcher.output()
    assert "Stopped." in launcher.output()
    assert not launcher.healthy()


@pytest.mark.e2e
def test_a_sigkilled_launcher_leaves_no_child_alive(launcher: Launcher) -> None:
    assert poll(lambda: len(descendants(launcher.process.pid)) >= 7, 60)  # web, beat, worker and its pool of 4
    family = descendants(launcher.process.pid)
    kill_group(launcher.process)  # only the launcher's own group: its children lead groups of their own
    assert wait_gone(family, 15) == [], [command_line(pid) for pid in family if is_alive(pid)]
    assert not launcher.healthy()


@pytest.mark.e2e
def test_the_sandbox_stops_on_sigterm_and_frees_its_port(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MILLRACE_AWS_ENDPOINT_URL"}
    env["MILLRACE_VAR_DIR"] = str(tmp_path)
    command = [sys.executable, "manage.py", "sandbox", "--port", str(port), "--orders", "20"]
    command += ["--writes-per-second", "20"]
    process = popen_bound(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    try:
        assert poll(lambda: any("traffic generator on" in line for line in lines) or process.poll() is not None, 90)
        assert process.poll() is None, "".join(lines)
        time.sleep(0.5)  # let the traffic generator have requests in flight
        process.send_signal(signal.SIGTERM)
        assert poll(lambda: process.poll() is not None, 15), "the sandbox ignored SIGTERM"
        assert any("sandbox: stopped" in line for line in lines), "".join(lines)
        with socket.socket() as sock:  # the port is free for the next `make run`
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
    finally:
        stop_group(process, grace=0)
