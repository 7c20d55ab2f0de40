"""`make run`: the whole console in one terminal (web, Celery worker, Celery beat, AWS sandbox).

Each process's output is prefixed with its name; Ctrl-C stops them all.
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
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

COLOURS = {"sandbox": "33", "web": "36", "worker": "35", "beat": "34"}


def port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


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
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.setdefault("MILLRACE_HTTPS", "off")  # runserver speaks plain HTTP on this machine
        env.setdefault("MILLRACE_BASE_URL", f"http://{host}:{port}")
        commands: dict[str, list[str]] = {}
        if not options["no_sandbox"] and not settings.MILLRACE_AWS_ENDPOINT_URL:
            sandbox_port = options["sandbox_port"]
            if not port_free("127.0.0.1", sandbox_port):
                raise CommandError(f"Port {sandbox_port} is in use; set MILLRACE_SANDBOX_PORT to a free one.")
            env["MILLRACE_AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{sandbox_port}"
            commands["sandbox"] = [python, "manage.py", "sandbox", "--port", str(sandbox_port)]
        if not port_free(host, port):
            raise CommandError(f"Port {port} is in use; stop what runs there or use PORT=8001 make run.")
        celery = [python, "-m", "celery", "-A", "console"]
        commands["web"] = [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"]
        commands["worker"] = [*celery, "worker", "-l", "info", "--concurrency", "4", "--without-gossip",
                              "--without-mingle", "--without-heartbeat", "-n", "worker@%h"]  # fmt: skip
        commands["beat"] = [*celery, "beat", "-l", "info"]

        processes: dict[str, subprocess.Popen] = {}
        stopping = threading.Event()
        # Handled explicitly: a shell may start a background job with SIGINT ignored.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopping.set())
        try:
            for name, command in commands.items():
                processes[name] = self.start(name, command, env)
                if name == "sandbox":  # the console needs the sample tables, not just the port
                    self.wait_for_line(processes[name], "AWS sandbox ready", "the sandbox")
            self.wait_for(f"http://{host}:{port}/healthz", processes["web"], "the web server")
            self.stdout.write(self.style.SUCCESS(f"\n  Millrace is running: open http://{host}:{port}/\n"))
            if "sandbox" in commands:
                self.stdout.write("  AWS: the local sandbox (no account needed). Ctrl-C stops everything.\n")
            while not stopping.is_set():
                for name, process in processes.items():
                    if process.poll() is not None:
                        raise CommandError(f"{name} exited with code {process.returncode}; stopping the rest.")
                stopping.wait(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop_all(processes)

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order
        )  # fmt: skip
        label = f"\033[{COLOURS[name]}m{name:>7}\033[0m | " if sys.stdout.isatty() else f"{name:>7} | "
        process.lines_seen = []  # type: ignore[attr-defined]

        def pump() -> None:
            for line in process.stdout:
                process.lines_seen.append(line)  # type: ignore[attr-defined]
                del process.lines_seen[:-50]  # type: ignore[attr-defined]
                self.stdout.write(label + line.rstrip("\n"))

        threading.Thread(target=pump, daemon=True).start()
        return process

    def wait_for_line(self, process: subprocess.Popen, marker: str, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(marker in line for line in process.lines_seen):  # type: ignore[attr-defined]
                return
            if process.poll() is not None:
                raise CommandError(f"{what} exited with code {process.returncode} while starting.")
            time.sleep(0.2)
        raise CommandError(f"{what} did not get ready within {timeout:.0f} s.")

    def wait_for(self, url: str, process: subprocess.Popen, what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CommandError(f"{what} exited with code {process.returncode} while starting.")
            try:
                urllib.request.urlopen(url, timeout=2).close()
                return
            except OSError:
                time.sleep(0.3)
        raise CommandError(f"{what} did not answer at {url} within {timeout:.0f} s.")

    def stop_all(self, processes: dict[str, subprocess.Popen]) -> None:
        """Web, beat and worker first, the sandbox last: a worker mid-call must not see AWS vanish."""
        self.stdout.write("\nStopping…")
        last = [name for name in processes if name == "sandbox"]
        for group in ([name for name in processes if name not in last], last):
            for name in group:
                if processes[name].poll() is None:
                    processes[name].send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for name in group:
                try:
                    processes[name].wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.stdout.write(f"{name} did not stop in time; killing it.")
                    processes[name].kill()
        self.stdout.write("Stopped.")
