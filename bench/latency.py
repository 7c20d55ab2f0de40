"""Sync latency from put_item returning to the document being committed, and GetRecords calls when idle."""

from __future__ import annotations

import threading
import time
from typing import Any

from django.db import connection, transaction

from bench.scan import run_segments
from bench.setup import bench_source, moto_client
from ingest import clock, initial_load, stream, writer
from ingest.models import Shard
from tests.aws_faults import AwsFaults


def _table(dynamodb: Any, name: str) -> None:
    dynamodb.create_table(
        TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )  # fmt: skip


def _follow_in_background(source_id: int, stop: threading.Event) -> threading.Thread:
    """What the worker does for this source's shards, in one thread: discover shards when due
    (`stream.discovery_interval`, as beat's tick does), and read each readable shard once it is due, at its
    `not_before` (the countdown `supervisor.dispatch_when_due` gives the `read_shard` task): never earlier,
    so an idle shard costs what it costs under a real worker. What a real worker adds (a broker round trip,
    a slot to wait for) is measured by bench/shards.py."""
    from collections_app.models import Source

    def loop() -> None:
        while not stop.is_set():
            source = Source.objects.select_related("integration").get(pk=source_id)
            last = source.shards_discovered_at
            if last is None or clock.now() - last > stream.discovery_interval(1):
                stream.discover(source)
            now = clock.now()
            shards = Shard.objects.filter(stream.readable_shards(source), done=False)
            due = [pk for pk, at in shards.values_list("pk", "not_before") if at is None or at <= now]
            for pk in due:
                stream.read_shard(pk)  # idle/backoff set not_before; "more" leaves it due at once
            if not due:
                later = [at for at in shards.values_list("not_before", flat=True) if at]
                wait = min((at - clock.now()).total_seconds() for at in later) if later else 0.05
                stop.wait(min(1.0, max(0.005, wait)))
        connection.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def sync_latency(endpoint: str, rate: int, seconds: int = 60) -> dict[str, float]:
    dynamodb = moto_client(endpoint, "dynamodb")
    table = f"bench_latency_{rate}"
    _table(dynamodb, table)
    source = bench_source(table, rcu=10, name=f"latency-{rate}", poll_ms=250)
    initial_load.start(source.pk)
    run_segments(source.pk, threads=1)
    committed: dict[str, float] = {}
    real_apply = writer.apply

    def apply_and_time(collection_id: int, changes: list[writer.Change]) -> None:
        real_apply(collection_id, changes)
        ids = [c.doc_id for c in changes]
        transaction.on_commit(lambda: committed.update(dict.fromkeys(ids, time.monotonic())))

    writer.apply = apply_and_time
    stop = threading.Event()
    reader = _follow_in_background(source.pk, stop)
    put_done: dict[str, float] = {}
    start = time.monotonic()
    try:
        for n in range(rate * seconds):
            due = start + n / rate
            if (delay := due - time.monotonic()) > 0:
                time.sleep(delay)
            key = f"k{n:07d}"
            dynamodb.put_item(TableName=table, Item={"pk": {"S": key}, "n": {"N": str(n)}})
            put_done[key] = time.monotonic()
        achieved = len(put_done) / (time.monotonic() - start)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(committed) < len(put_done):
            time.sleep(0.1)
    finally:
        stop.set()
        reader.join()
        writer.apply = real_apply
    latencies = [max(0.0, committed[k] - put_done[k]) for k in put_done if k in committed]
    missing = len(put_done) - len(latencies)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(f"sync latency at {rate} writes/s ({achieved:.0f} achieved) for {seconds} s, poll 0.25 s: "
          f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms (goal p99 <= 1000 ms; Rockset promised 5 s); "
          f"{missing} of {len(put_done)} not seen")  # fmt: skip
    return {"p50": p50, "p99": p99, "missing": missing, "source_id": source.pk}


def idle_calls_per_hour(source_id: int, seconds: int = 120) -> float:
    """GetRecords calls an idle shard costs, extrapolated to an hour (a fixed 1 s poll makes 3,600)."""
    stop = threading.Event()
    with AwsFaults() as faults:
        calls = faults.spy("dynamodbstreams", "GetRecords")
        reader = _follow_in_background(source_id, stop)
        time.sleep(30)  # let the reader reach the tip and back off
        before = len(calls)
        time.sleep(seconds)
        counted = len(calls) - before
        stop.set()
        reader.join()
    shards = Shard.objects.filter(source_id=source_id, done=False).count()
    per_hour = counted * 3600 / seconds / max(shards, 1)
    print(f"idle shard: {counted} GetRecords calls in {seconds} s, {per_hour:,.0f} an hour per shard "
          f"(goal <= 900; a fixed 1 s poll makes 3,600)")  # fmt: skip
    return per_hour
