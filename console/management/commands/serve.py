"""`make run`: the whole console in one terminal (web, Celery worker, Celery beat, AWS sandbox).

Each process's output is prefixed with its name. The launcher supervises: a child that dies is started
again after a pause that doubles each time (1, 2, 4 … 30 s, back to 1 s once it has run a minute), so
one crash never takes the console down. Ctrl-C, SIGTERM or a closed terminal stop them all within a few
seconds, and no child outlives the launcher even when it is SIGKILLed (console/processes.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from console.monitoring import clear_metrics_dir
from console.processes import SignalFlag, popen_bound, stop_group
from console.services import setup_token

COLOURS = {"sandbox": "33", "web": "36", "worker": "35", "beat": "34"}
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
HEALTHY_AFTER = 60.0  # a child that ran this long before dying starts again after FIRST_BACKOFF
STOP_GRACE = 5.0  # SIGTERM, then SIGKILL of the child's process group


def port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


@dataclass
class Child:
    """One supervised process and its restart state."""

    name: str
    command: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = FIRST_BACKOFF
    restart_at: float | None = None  # set while it is dead and waiting to be started again
    restarts: int = 0
    lines: list[str] = field(default_factory=list)


class Command(BaseCommand):
    help = "Start Millrace: web server, Celery worker and beat, and (by default) the local AWS sandbox."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--sandbox-port", type=int, default=int(os.environ.get("MILLRACE_SANDBOX_PORT", 5055)))
        parser.add_argument("--no-sandbox", action="store_true", help="Use real AWS (the usual credential chain).")

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        python = sys.executable
        self.env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.env.setdefault("MILLRACE_HTTPS", "off")  # runserver speaks plain HTTP on this machine
        self.env.setdefault("MILLRACE_BASE_URL", f"http://{host}:{port}")
        commands: dict[str, list[str]] = {}
        if not options["no_sandbox"] and not settings.MILLRACE_AWS_ENDPOINT_URL:
            sandbox_port = options["sandbox_port"]
            if not port_free("127.0.0.1", sandbox_port):
                raise CommandError(f"Port {sandbox_port} is in use; set MILLRACE_SANDBOX_PORT to a free one.")
            self.env["MILLRACE_AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{sandbox_port}"
            commands["sandbox"] = [python, "manage.py", "sandbox", "--port", str(sandbox_port)]
        if not port_free(host, port):
            raise CommandError(f"Port {port} is in use; stop what runs there or use PORT=8001 make run.")
        celery = [python, "-m", "celery", "-A", "console"]
        commands["web"] = [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"]
        commands["worker"] = [*celery, "worker", "-l", "info", "--concurrency", "4", "--without-gossip",
                              "--without-mingle", "--without-heartbeat", "-n", "worker@%h"]  # fmt: skip
        commands["beat"] = [*celery, "beat", "-l", "info"]
        children = {name: Child(name, command) for name, command in commands.items()}
        clear_metrics_dir()  # before any child counts anything

        self.stopping = SignalFlag()  # set by the signal handlers below
        # Handled explicitly: a shell may start a background job with SIGINT ignored. SIGHUP: the terminal
        # closed; the children, in sessions of their own, would not hear of it otherwise.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self.stopping.set)
        try:
            for child in children.values():
                self.start(child)
                if child.name == "sandbox":  # the console needs the sample tables, not just the port
                    self.wait_for_line(child, "AWS sandbox ready", "the sandbox")
            self.wait_for(f"http://{host}:{port}/healthz", children["web"], "the web server")
            if not self.stopping.is_set():
                self.stdout.write(self.style.SUCCESS(f"\n  Millrace is running: open http://{host}:{port}/\n"))
                self.announce_setup(f"http://{host}:{port}")
                if "sandbox" in children:
                    self.stdout.write("  AWS: the local sandbox (no account needed). Ctrl-C stops everything.\n")
            self.supervise(children)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop_all(children)

    def announce_setup(self, base_url: str) -> None:
        """On a fresh install, the set-up link with its one-time token: the first-run page asks for it (so
        the first visitor of a public address can't become the operator), and whoever runs `make run` is
        the one who should. A link with the token filled in keeps the first run one click away."""
        try:
            fresh = not get_user_model().objects.exists()
        except DatabaseError:  # not migrated: the web process says so
            return
        if fresh:
            token = setup_token()
            self.stdout.write(self.style.WARNING(
                f"  First run: create the first account at {base_url}/setup/?token={token}\n"
                f"  (the set-up page asks for this setup token: {token})\n"
            ))  # fmt: skip

    def supervise(self, children: dict[str, Child]) -> None:
        """Runs in the main thread until asked to stop: children are (re)started from here only, because the
        kernel's parent-death signal follows the thread that forked them (console/processes.py)."""
        while not self.stopping.is_set():
            now = time.monotonic()
            for child in children.values():
                if child.restart_at is None and child.process.poll() is not None:
                    ran = now - child.started_at
                    child.backoff = FIRST_BACKOFF if ran >= HEALTHY_AFTER else child.backoff
                    child.restart_at = now + child.backoff
                    self.say(f"{child.name} exited with code {child.process.returncode} after {ran:.0f} s; "
                             f"restarting it in {child.backoff:g} s")  # fmt: skip
                    child.backoff = min(child.backoff * 2, MAX_BACKOFF)
                elif child.restart_at is not None and now >= child.restart_at:
                    child.restart_at = None
                    child.restarts += 1
                    self.start(child)
                    self.say(f"{child.name} restarted (pid {child.process.pid}, restart {child.restarts})")
            self.stopping.wait(0.5)

    def say(self, message: str) -> None:
        self.stdout.write(self.style.WARNING(f"launcher | {message}"))

    def start(self, child: Child) -> None:
        process = popen_bound(
            child.command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        child.process, child.started_at = process, time.monotonic()
        label = (
            f"\033[{COLOURS[child.name]}m{child.name:>7}\033[0m | " if sys.stdout.isatty() else f"{child.name:>7} | "
        )

        def pump() -> None:
            for line in process.stdout:
                child.lines.append(line)
                del child.lines[:-50]
                self.stdout.write(label + line.rstrip("\n"))

        threading.Thread(target=pump, daemon=True).start()

    def wait_for_line(self, child: Child, marker: str, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping.is_set():
            if any(marker in line for line in list(child.lines)):
                return
            if child.process.poll() is not None:
                raise CommandError(f"{what} exited with code {child.process.returncode} while starting.")
            time.sleep(0.2)
        if not self.stopping.is_set():
            raise CommandError(f"{what} did not get ready within {timeout:.0f} s.")

    def wait_for(self, url: str, child: Child, what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping.is_set():
            if child.process.poll() is not None:
                raise CommandError(f"{what} exited with code {child.process.returncode} while starting.")
            try:
                urllib.request.urlopen(url, timeout=2).close()
                return
            except OSError:
                time.sleep(0.3)
        if not self.stopping.is_set():
            raise CommandError(f"{what} did not answer at {url} within {timeout:.0f} s.")

    def stop_all(self, children: dict[str, Child]) -> None:
        """Web, beat and worker first, the sandbox last: a worker mid-call must not see AWS vanish. Each
        group gets SIGTERM and STOP_GRACE seconds, then its process groups are SIGKILLed (a worker's warm
        shutdown would wait for its running tasks; a killed worker loses nothing, by design)."""
        self.stdout.write("\nStopping…")
        running = [child for child in children.values() if child.process is not None]
        last = [child for child in running if child.name == "sandbox"]
        for group in ([child for child in running if child not in last], last):
            for child in group:
                if child.process.poll() is None:
                    child.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE
            for child in group:
                try:
                    child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.stdout.write(f"{child.name} did not stop within {STOP_GRACE:g} s; killing it.")
                stop_group(child.process, grace=0)  # its process group too: no grandchild left behind
        self.stdout.write("Stopped.")
