"""Scan pipeline vs a bare boto3 Scan loop on the same moto server, and RCU adherence under a budget."""

from __future__ import annotations

import math
import random
import threading
import time
from typing import Any
from unittest import mock

from django.db import connection

from bench.setup import bench_source, moto_client
from ingest import budget as rcu_budget
from ingest import clock, initial_load, scan
from ingest.models import ScanSegment
from ingest.sizes import item_size
from tests.aws_faults import AwsFaults
from tests.ingest.engine import make_table

ITEMS = 6000


def bare_loop(dynamodb: Any, table: str) -> int:
    count = 0
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        count += len(page["Items"])
    return count


def run_segments(source_id: int, threads: int) -> None:
    def worker() -> None:
        while True:
            pending = list(ScanSegment.objects.filter(source_id=source_id, done=False).values_list("pk", flat=True))
            if not pending:
                return
            for pk in pending:
                scan.run_segment(pk, slice_seconds=5)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def pipeline_vs_bare(endpoint: str) -> dict[str, float]:
    dynamodb = moto_client(endpoint, "dynamodb")
    make_table(dynamodb, "bench_scan", ITEMS)
    start = time.perf_counter()
    assert bare_loop(dynamodb, "bench_scan") == ITEMS
    bare = time.perf_counter() - start
    source = bench_source("bench_scan", rcu=40_000, name="scan-pipeline")
    # One segment and full 1 MB pages, exactly the bare loop's reads: the difference is our overhead.
    with mock.patch("ingest.scan.segment_count", lambda source, size, **kwargs: 1):
        start = time.perf_counter()
        initial_load.start(source.pk)
        run_segments(source.pk, threads=1)
        ours = time.perf_counter() - start
    source.refresh_from_db()
    assert source.items_loaded == ITEMS and source.collection.doc_count == ITEMS
    print(f"scan pipeline: {ITEMS:,} items in {ours:.2f} s ({ITEMS / ours:,.0f}/s); bare boto3 Scan loop "
          f"{bare:.2f} s ({ITEMS / bare:,.0f}/s)")  # fmt: skip
    print(f"scan pipeline: ratio {ours / bare:.2f}x of the bare loop (goal <= 1.2x)")
    return {"ratio": ours / bare}


SLOW_ITEMS = 6000
SLOW_ITEM_BYTES = 3500  # under 4 KB: about one RCU an item read strongly consistent, so few items make many RCU


def _slow_table(dynamodb: Any, name: str) -> None:
    if name in dynamodb.list_tables()["TableNames"]:
        return  # made by an earlier bench of this run
    dynamodb.create_table(
        TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )  # fmt: skip
    filler = "x" * SLOW_ITEM_BYTES
    for start in range(0, SLOW_ITEMS, 25):
        batch = [{"PutRequest": {"Item": {"pk": {"S": f"item-{n:05d}"}, "data": {"S": filler}}}}
                 for n in range(start, min(SLOW_ITEMS, start + 25))]  # fmt: skip
        dynamodb.batch_write_item(RequestItems={name: batch})


def worst_case_window(calls: list[tuple[float, float, float]]) -> float:
    """The highest sum, over every one-second window [t, t+1), of the units of the calls whose [start, end]
    interval touches it: each page's charge put wherever in its call it does the most harm. A window's sum
    only changes where a call enters (t = start − 1) or leaves (t = end) it, so those are the t to try."""
    candidates = {end for _, end, _ in calls} | {start - 1 + 1e-9 for start, _, _ in calls}
    return max(sum(u for s, e, u in calls if s < t + 1 and e >= t) for t in candidates)


LATENCIES = {"no": None, "0.1-0.3 s": (0.1, 0.3), "0.2-1.5 s": (0.2, 1.5)}


def rcu_adherence(
    endpoint: str, budgets: tuple[int, ...] = (10, 50, 500), latencies: tuple[str, ...] = ("no",), seconds: float = 12
) -> list[dict[str, float]]:
    """RCU adherence: the engine's Scan at each budget, for `seconds` or to the table's end, with as many
    threads as segments (workers enough for every segment the pacing cut), and optionally every Scan call
    slowed by a latency drawn from a range (injected at botocore's layer in this process, before the real
    call to moto; the engine is unchanged).

    Printed for each: the mean RCU a second (over the run's whole seconds, by answer),
    the highest one-second window counting each page when its answer came and in the worst case (each page
    anywhere in its call: DynamoDB may charge it at any moment of it), the ceiling 1 / (1 + mean call
    duration) that the worst-case accounting allows (each call fills every window it touches, 1 s + its
    duration of them), and the mean as a fraction of it."""
    dynamodb = moto_client(endpoint, "dynamodb")
    _slow_table(dynamodb, "bench_rcu_slow")
    rng = random.Random(7)
    results = []
    for latency in latencies:
        for budget in budgets:
            calls, segments, held = _paced_scan(budget, LATENCIES[latency], seconds, rng)
            if not calls:
                print(f"rcu adherence, {latency} latency: budget {budget}: no Scan call answered")
                continue
            begin, end = min(s for s, _, _ in calls), max(e for _, e, _ in calls)
            total = sum(u for _, _, u in calls)
            # Over the run's whole seconds, each page in the second its answer came (the last, partial second
            # left out): a mean over the span itself would count the first second's pages against nothing.
            per_second = [0.0] * max(1, int(end - begin))
            for _, answered_at, units in calls:
                if int(answered_at - begin) < len(per_second):
                    per_second[int(answered_at - begin)] += units
            mean = sum(per_second) / len(per_second) / budget
            durations = [e - s for s, e, _ in calls]
            call = sum(durations) / len(durations)
            ceiling = 1 / (1 + call)
            answered = max(sum(u for _, e, u in calls if t <= e < t + 1) for _, t, _ in calls) / budget
            worst = worst_case_window(calls) / budget
            goal = "goal >= 0.9 of the budget" if latency == "no" else "goal >= 0.9 of the ceiling"
            print(f"rcu adherence, {latency} latency: budget {budget} RCU/s, {segments} segments in flight, "
                  f"{len(calls)} pages, calls {call:.2f} s on average, {total:.0f} RCU in "
                  f"{end - begin:.1f} s")  # fmt: skip
            print(f"    mean {mean:.2f} of the budget a second; ceiling 1/(1+{call:.2f}) = {ceiling:.2f}; "
                  f"mean/ceiling {mean / ceiling:.2f} ({goal}); highest 1 s window {answered:.2f} by answer, "
                  f"{worst:.2f} worst case (goal <= 1.0)")  # fmt: skip
            # How full the budget's ledger was: each page holds its units from its reservation to a second
            # after it was settled. Near 1.0, the budget set the pace; below, the round trip did.
            occupancy = sum(u * (h + 1) for h, u in held) / (budget * (end - begin))
            reserved = sum(h for h, _ in held) / max(1, len(held))
            print(f"    the budget's ledger {occupancy:.2f} full on average; a page held from its reservation to "
                  f"its answer for {reserved:.2f} s on average (the call {call:.2f} s)")  # fmt: skip
            results.append({"budget": budget, "mean": mean, "ceiling": ceiling, "highest": worst})
    return results


def rcu_adherence_slow_calls(endpoint: str) -> list[dict[str, float]]:
    """`rcu_adherence` with 0.1-0.3 s (issue 17) and 0.2-1.5 s (issue 12) Scan calls."""
    return rcu_adherence(endpoint, latencies=("0.1-0.3 s", "0.2-1.5 s"))


def _paced_scan(
    budget: int, latency: tuple[float, float] | None, seconds: float, rng: random.Random
) -> tuple[list[tuple[float, float, float]], int, list[tuple[float, float]]]:
    """One run: ([(call start, call end, units)] on the engine's monotonic clock, segments, [(seconds from
    the page's reservation to its settling, units)])."""
    calls: list[tuple[float, float, float]] = []
    lock = threading.Lock()
    started = threading.local()

    def slow(params: dict[str, Any]) -> bool:
        started.at = clock.monotonic()
        if latency:
            with lock:
                delay = rng.uniform(*latency)
            time.sleep(delay)
        return False  # then the real call

    def charge(params: dict[str, Any], response: dict[str, Any]) -> None:
        size = sum(item_size(item) for item in response.get("Items", []))
        units = max(1, math.ceil(size / 4096)) * (1.0 if params.get("ConsistentRead") else 0.5)
        response["ConsumedCapacity"] = {"TableName": params["TableName"], "CapacityUnits": units}
        with lock:
            calls.append((started.at, clock.monotonic(), units))

    ledger: dict[int, tuple[float, float]] = {}  # reservation -> (reserved at, units)
    held: list[tuple[float, float]] = []  # (reserve -> settle seconds, units settled)
    real_reserve, real_settle = rcu_budget.reserve, rcu_budget.settle

    def reserve(source_id: int, budget: float, units: float, **kwargs: Any) -> int | None:
        spend_id = real_reserve(source_id, budget, units, **kwargs)
        if spend_id is not None:
            ledger[spend_id] = (clock.monotonic(), units)
        return spend_id

    def settle(spend_id: int, units: float) -> None:
        real_settle(spend_id, units)
        at, _ = ledger.pop(spend_id, (clock.monotonic(), units))
        with lock:
            held.append((clock.monotonic() - at, units))

    name = f"rcu-{budget}-{'none' if not latency else f'{latency[0]:g}-{latency[1]:g}'}".replace(".", "_")
    with (
        AwsFaults() as faults,
        mock.patch.object(rcu_budget, "reserve", reserve),
        mock.patch.object(rcu_budget, "settle", settle),
    ):
        faults.add("dynamodb", "Scan", "Unused", when=slow)
        faults.rewrite("dynamodb", "Scan", charge)
        source = bench_source("bench_rcu_slow", rcu=budget, name=name, auth="role")
        initial_load.start(source.pk)
        segments = ScanSegment.objects.filter(source=source).count()
        run_segments_for(source.pk, threads=segments, seconds=seconds)
    return calls, segments, held


def run_segments_for(source_id: int, threads: int, seconds: float) -> None:
    """Like `run_segments`, for a while: each thread takes segments in turn until `seconds` have passed
    (short slices, so they stop soon after) or the scan is done."""
    deadline = time.monotonic() + seconds

    def worker(offset: int) -> None:
        try:
            while time.monotonic() < deadline:
                pending = list(ScanSegment.objects.filter(source_id=source_id, done=False).values_list("pk", flat=True))
                if not pending:
                    return
                pk = pending[offset % len(pending)]
                if scan.run_segment(pk, slice_seconds=max(0.1, deadline - time.monotonic())) == "held":
                    time.sleep(0.05)  # another thread has it: as a worker whose task found it taken
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
