"""The engine's clock: wall time, monotonic time, sleeping, and timers, from one place.

Production uses the real one. Unit tests install a `VirtualClock` so that leases lapse, budgets refill
and backoffs pass by advancing time rather than waiting for it: a test stops after N calls, never after
N seconds, and a slow machine runs it the same way as a quiet one.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

log = logging.getLogger(__name__)


class RealClock:
    def now(self) -> datetime:
        return timezone.now()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    @contextlib.contextmanager
    def every(self, interval: float, action: Callable[[], None]) -> Iterator[None]:
        """Run `action` every `interval` seconds in a thread of its own while the block runs: a heartbeat
        keeps going while the block waits on a slow call. The thread's database connection is closed
        when it ends."""
        stop = threading.Event()

        def beat() -> None:
            try:
                while not stop.wait(interval):
                    try:
                        action()
                    except Exception:  # noqa: BLE001 - a missed beat is retried at the next one
                        log.warning("heartbeat failed", exc_info=True)
            finally:
                connection.close()

        thread = threading.Thread(target=beat, name="millrace-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


class VirtualClock:
    """Time that moves only when the engine sleeps (or a test calls `advance`), and by a microsecond at
    each reading, so that two events are never at the same moment. Timers registered with `every` fire
    inside `sleep`/`advance`, in the caller's thread, at the virtual moments they are due."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or timezone.now()
        self._elapsed = 0.0
        self._timers: list[tuple[float, int, float, Callable[[], None]]] = []
        self._ids = itertools.count()
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        self._elapsed += 1e-6
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        target = self._elapsed + max(0.0, seconds)
        while self._timers and self._timers[0][0] <= target:
            due, ident, interval, action = heapq.heappop(self._timers)
            self._elapsed = due
            action()
            heapq.heappush(self._timers, (due + interval, ident, interval, action))
        self._elapsed = target

    def jump(self, seconds: float) -> None:
        """Time passes while this process is stopped (SIGSTOP, a laptop's lid): no timer fires."""
        self._elapsed += max(0.0, seconds)
        self._timers = [(max(due, self._elapsed), i, iv, a) for due, i, iv, a in self._timers]
        heapq.heapify(self._timers)

    @contextlib.contextmanager
    def every(self, interval: float, action: Callable[[], None]) -> Iterator[None]:
        entry = (self._elapsed + interval, next(self._ids), interval, action)
        heapq.heappush(self._timers, entry)
        try:
            yield
        finally:
            self._timers = [t for t in self._timers if t[1] != entry[1]]
            heapq.heapify(self._timers)


_current: RealClock | VirtualClock = RealClock()


def now() -> datetime:
    return _current.now()


def monotonic() -> float:
    return _current.monotonic()


def sleep(seconds: float) -> None:
    _current.sleep(seconds)


def every(interval: float, action: Callable[[], None]) -> contextlib.AbstractContextManager[None]:
    return _current.every(interval, action)


@contextlib.contextmanager
def use(clock: RealClock | VirtualClock) -> Iterator[RealClock | VirtualClock]:
    """Install `clock` for the engine while the block runs (tests)."""
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous
