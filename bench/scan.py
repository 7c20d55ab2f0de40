"""Scan pipeline vs a bare boto3 Scan loop on the same moto server, and RCU adherence under a budget."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any
from unittest import mock

from bench.setup import bench_source, moto_client
from ingest import initial_load, scan
from ingest.models import ScanSegment
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
    with mock.patch("ingest.scan.segment_count", lambda source, size: 1):
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


def rcu_adherence(endpoint: str, budget: int = 20) -> dict[str, float]:
    dynamodb = moto_client(endpoint, "dynamodb")
    make_table(dynamodb, "bench_rcu", 3000)
    spent: list[tuple[float, float]] = []
    with AwsFaults() as faults:
        faults.charge_like_dynamodb(spent)  # moto charges 1.0 a call; DynamoDB charges by size
        source = bench_source("bench_rcu", rcu=budget, name="rcu")
        initial_load.start(source.pk)
        run_segments(source.pk, threads=4)  # four workers sharing one budget
    per_second: dict[int, float] = defaultdict(float)
    t0 = spent[0][0]
    for at, units in spent:
        per_second[int(at - t0)] += units
    full_seconds = [per_second[s] for s in sorted(per_second)[:-1]]  # the last second is partial
    sliding = max(sum(u for t, u in spent if start <= t < start + 1) for start, _ in spent)
    mean = sum(full_seconds) / len(full_seconds) / budget
    print(f"rcu adherence: budget {budget} RCU/s, {len(full_seconds)} full seconds, {sum(u for _, u in spent):.0f} RCU "
          f"in all, 4 workers, {ScanSegment.objects.filter(source=source).count()} segments")  # fmt: skip
    print(
        f"rcu adherence: mean {mean:.2f} of budget per second (goal 0.9-1.0); highest second "
        f"{max(full_seconds) / budget:.2f}; highest sliding 1 s window {sliding / budget:.2f} (goal never above 1.0)"
    )
    return {"mean": mean, "max": max(full_seconds) / budget}
