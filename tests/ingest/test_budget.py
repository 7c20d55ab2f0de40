"""The RCU budget shared by segments in flight at once: two threads on two PostgreSQL connections scan
two segments of one source through the engine, their calls slowed, and no one-second window may hold more
than the budget even when each page is charged at the worst moment of its call (invariant 4)."""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pytest
from django.db import connection, connections

from collections_app.models import Source
from ingest import clock, initial_load, scan
from ingest.clock import VirtualClock
from ingest.models import ScanSegment
from tests.ingest.engine import assert_equal_to_table, create_source

pytestmark = pytest.mark.django_db(transaction=True)


class SharedVirtualClock(VirtualClock):
    """The virtual clock for several threads: one time for all, moved under a lock (timers fire outside
    it, since a heartbeat's UPDATE may wait on a row another thread holds while it reads the time)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def now(self):
        with self._lock:
            return super().now()

    def advance(self, seconds: float) -> None:
        with self._lock:
            target = self._elapsed + max(0.0, seconds)
        while True:
            with self._lock:
                if not (self._timers and self._timers[0][0] <= target):
                    self._elapsed = max(self._elapsed, target)
                    return
                due, ident, interval, action = heapq.heappop(self._timers)
                self._elapsed = max(self._elapsed, due)
                heapq.heappush(self._timers, (due + interval, ident, interval, action))
            action()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
        self.advance(seconds)

    @contextmanager
    def every(self, interval: float, action: Callable[[], None]) -> Iterator[None]:
        with self._lock:
            entry = (self._elapsed + interval, next(self._ids), interval, action)
            heapq.heappush(self._timers, entry)
        try:
            yield
        finally:
            with self._lock:
                self._timers = [t for t in self._timers if t[1] != entry[1]]
                heapq.heapify(self._timers)


def uniform_table(dynamodb, name: str, items: int) -> None:
    """Items of one size (1 KB): each page costs what the engine reserved for it, so that a window above
    the budget could only come from two segments reserving at once, not from an item larger than those
    seen so far (which no reservation made before the call can foresee)."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    for start in range(0, items, 25):
        batch = [
            {"PutRequest": {"Item": {"pk": {"S": f"item-{n:05d}"}, "data": {"S": "x" * 1000}}}}
            for n in range(start, min(items, start + 25))
        ]
        dynamodb.batch_write_item(RequestItems={name: batch})


def worst_case_window(calls: list[tuple[float, float, float]]) -> float:
    """The most RCU any one-second window [t, t+1) may hold with each page charged anywhere in its call:
    the sum over the calls that touch it. It changes only where a call enters or leaves a window."""
    candidates = {end for _, end, _ in calls} | {start - 1 + 1e-9 for start, _, _ in calls}
    return max(sum(u for s, e, u in calls if s < t + 1 and e >= t) for t in candidates)


def test_two_segments_in_flight_never_spend_more_than_the_budget(people, integration, aws, faults, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers: two segments reserving at once is PostgreSQL's case")
    shared = SharedVirtualClock()
    monkeypatch.setattr("django.utils.timezone.now", shared.now)
    calls: list[tuple[float, float, float]] = []  # (call start, answer, RCU)
    in_flight: set[int] = set()
    overlapped = threading.Event()
    started = threading.local()
    lock = threading.Lock()

    first_calls = threading.Barrier(2)

    def slow(params):
        with lock:
            in_flight.add(params["Segment"])
            if len(in_flight) > 1:
                overlapped.set()
            first = not getattr(started, "at", None)
        started.at = clock.monotonic()
        if first:  # each segment's first call waits (in real time, bounded) until the other's is in flight
            with suppress(threading.BrokenBarrierError):
                first_calls.wait(timeout=30)
        clock.sleep(0.3)  # the call's latency, on the shared virtual clock
        return False

    def answered(params, response):
        with lock:
            in_flight.discard(params["Segment"])
            units = response["ConsumedCapacity"]["CapacityUnits"]
            calls.append((started.at, clock.monotonic(), units))

    faults.charge_like_dynamodb()
    faults.add("dynamodb", "Scan", "Unused", when=slow)
    faults.rewrite("dynamodb", "Scan", answered)
    uniform_table(aws.dynamodb, "t", 300)
    monkeypatch.setattr("ingest.scan.segment_count", lambda source, size, **kwargs: 2)
    with clock.use(shared):
        source = create_source(people.acme, people.alice, integration, "t", rcu=6)
        initial_load.start(source.pk)
        segments = list(ScanSegment.objects.filter(source=source).values_list("pk", flat=True))

        def run(pk: int) -> None:
            try:
                for _ in range(200):  # slices, until the segment is done
                    if scan.run_segment(pk, slice_seconds=5) == "done":
                        return
            finally:
                connections.close_all()

        threads = [threading.Thread(target=run, args=(pk,)) for pk in segments]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    faults.faults.clear()
    faults.rewrites.clear()
    assert overlapped.is_set(), "the two segments never had calls in flight at once"
    assert Source.objects.get(pk=source.pk).load_finished_at
    worst = worst_case_window(calls)
    assert worst <= 6, f"{worst} RCU could have been charged within one second, budget 6"
    assert_equal_to_table(source, aws.dynamodb)
