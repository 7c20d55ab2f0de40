"""Child processes that never outlive the process that started them.

`make run`'s launcher and the tests start real processes (web, Celery worker and beat, the sandbox). A
child in a session of its own survives its parent: a killed launcher left the sandbox holding its port,
and a killed pytest left Celery workers holding PostgreSQL connections. On Linux the kernel can send a
signal to a process when its parent dies (`prctl(PR_SET_PDEATHSIG)`); we ask for SIGKILL, which needs no
cooperation from the child. Celery's prefork pool sets the same on its pool processes, so a worker's
pool dies with the worker. Elsewhere (macOS) this is a no-op and the parent's own clean-up is all there is.

The kernel sends the signal when the *thread* that forked the child ends, not the process: start these
children from a thread that lives as long as they should (the main thread).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    """Looked up once, in the parent: the child between fork and exec should do as little as possible."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


_prctl = _load_prctl()


def die_with_parent_hook() -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel SIGKILL the child when this process dies (None where unsupported).

    The parent's pid is taken now, before the fork: if the parent died between fork and prctl, the signal
    would never come, so the child checks and kills itself."""
    if _prctl is None:
        return None
    parent = os.getpid()
    prctl = _prctl
    kill_signal = int(signal.SIGKILL)

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, kill_signal, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), kill_signal)

    return hook


def popen_bound(command: list[str], **kwargs: Any) -> subprocess.Popen:
    """`subprocess.Popen` in a process group of its own (so that a terminal's Ctrl-C reaches only the
    parent, which stops children in order, and so that a whole group can be killed), bound to our life."""
    return subprocess.Popen(command, start_new_session=True, preexec_fn=die_with_parent_hook(), **kwargs)


def stop_group(process: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the child, then SIGKILL its whole process group if it is still there after `grace` seconds.

    The group goes too even when the child itself stopped in time: a grandchild it left behind (a pool
    process, a server thread's subprocess) must not keep a port or a database connection."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    kill_group(process)


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the child's process group (it leads one: see `popen_bound`) and reap the child."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait()


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """The pids among `pids` still alive after waiting up to `timeout` seconds (zombies count as gone)."""
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while True:
        alive = [pid for pid in alive if is_alive(pid)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.1)


def is_alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (dead, not yet reaped by its parent) does not."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, grandchildren, …), read from /proc; empty where there is none."""
    children: dict[int, list[int]] = {}
    with contextlib.suppress(FileNotFoundError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class SignalFlag:
    """A stop request set from a signal handler and polled by the main thread. Not a threading.Event: its
    set() takes the lock that wait() holds for a moment, and a signal landing in that moment runs the
    handler on the same thread, which then waits for itself forever (seen under load: SIGTERM ignored)."""

    def __init__(self) -> None:
        self.signals: list[int] = []

    def set(self, signum: int = 0, _frame: object = None) -> None:
        self.signals.append(signum)  # a list append is atomic and takes no lock we could already hold

    def is_set(self) -> bool:
        return bool(self.signals)

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.signals and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.05 if deadline is None else max(0.0, min(0.05, deadline - time.monotonic())))
        return bool(self.signals)
