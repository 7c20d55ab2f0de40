"""Stream apply: records applied per second from GetRecords pages of 1,000 mixed INSERT/MODIFY/REMOVE
records into PostgreSQL, through the real commit (ingest.stream._commit: conversion, upsert and delete,
checkpoint, counters, lease check), as a ratio to COPY of the same documents. Then 1, 4 and 16 shards of
one collection writing at once, against as many shards of as many collections: if the per-source and
per-collection row locks were what limits, one collection would be slower than many, and its writers
would spend their time waiting for locks (sampled, bench.locks: a share, steadier than the rates on a
busy machine).

What the ratio compares. Ours: 16,000 records (about 8,000 INSERTs of new keys, 4,800 MODIFYs and 3,200
REMOVEs of live ones), counted as records per second, converted from DynamoDB's types inside the timing,
applied in 16 transactions of 1,000 (one per GetRecords page, each with its checkpoint and counters) into
the documents table, which starts empty in a fresh bench database. COPY (bench.export.copy_seconds): the
images those records carry (about 12,800), each under a key of its own, already converted (conversion is outside
its timing), written by one COPY in one transaction into a new, empty table with the documents table's
columns, its four indexes (primary key, collection, (collection, doc_id) unique, the GIN on the body) and
its foreign key to the collection; counted as documents per second. So the baseline is the cost of
writing the same documents to the same kind of table, and everything beyond it (conversion, MODIFYs
that rewrite a document, REMOVEs, per-page commits) is ours to pay.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from bench.export import copy_seconds
from bench.locks import LockWaits
from bench.setup import bench_source, moto_client
from collections_app.models import Source
from ingest import convert, lifecycle, stream
from ingest.models import Shard
from tests.ingest.engine import make_table, stream_pages

PAGE = 1000
RECORDS = int(os.environ.get("MILLRACE_BENCH_STREAM_RECORDS", 16_000))  # per run, split over its shards
OWNER = "bench"


def pages(shard: int, records: int, seed: int) -> list[list[dict[str, Any]]]:
    return stream_pages(shard, records, per_page=PAGE, seed=seed, start=datetime(2026, 1, 1, tzinfo=UTC))


def _source(name: str) -> Source:
    dynamodb = moto_client(os.environ["MILLRACE_AWS_ENDPOINT_URL"], "dynamodb")
    if name not in dynamodb.list_tables()["TableNames"]:
        make_table(dynamodb, name, 1)
    source = bench_source(name, rcu=1, name=name)
    Source.objects.filter(pk=source.pk).update(state=Source.State.PROCESSING_STREAM, stream_start_at=None)
    return source


def _shard(source: Source, n: int) -> Shard:
    Shard.objects.create(
        source=source, stream_arn="arn:bench", shard_id=f"shardId-{n:04d}", leased_by=OWNER,
        lease_expires_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    return Shard.objects.select_related("source__collection", "source__integration").get(
        source=source, shard_id=f"shardId-{n:04d}"
    )


def _apply(shard: Shard, shard_pages: list[list[dict[str, Any]]]) -> None:
    """One shard's worker: each page committed as ingest.stream._read commits it."""
    try:
        for page in shard_pages:
            assert stream._commit(shard, OWNER, page, at_tip=False, next_iterator="iterator")
    finally:
        connection.close()


def run(name: str, shards: int, collections: int = 1) -> tuple[float, float]:
    """Records per second with `shards` writers at once (spread over `collections`), in threads: each
    waits on PostgreSQL with the GIL released, as separate worker processes would. And the share of
    their transactions' time spent waiting for locks (bench.locks)."""
    sources = [_source(f"{name}_{c}") for c in range(collections)]
    work = []
    for n in range(shards):
        shard = _shard(sources[n % collections], n)
        work.append((shard, pages(n, RECORDS // shards, seed=n)))
    threads = [threading.Thread(target=_apply, args=(shard, shard_pages)) for shard, shard_pages in work]
    with LockWaits() as waits:
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.perf_counter() - start
    for source in sources:
        source.collection.refresh_from_db()
        assert source.collection.doc_count == source.collection.documents.count(), "counters off"
    return shards * (RECORDS // shards) / took, waits.share


def copy_rate(records: list[dict[str, Any]], collection_id: int) -> float:
    """COPY of the same documents (the images the records carry, each under a key of its own), already
    converted: documents per second (see the module's docstring)."""
    rows = []
    for n, r in enumerate(records):
        if "NewImage" in r["dynamodb"]:
            body = convert.item_to_json(r["dynamodb"]["NewImage"])
            rows.append((f"{convert.document_id(r['dynamodb']['Keys'], ['pk'])}-{n}", body, len(body)))
    return len(rows) / copy_seconds(rows, collection_id)


def main() -> None:
    if connection.vendor != "postgresql":
        print("stream apply: skipped, it compares with PostgreSQL COPY: set DATABASE_URL to a PostgreSQL")
        return
    records = [r for page in pages(0, RECORDS, seed=0) for r in page]
    baseline = copy_rate(records, _source("bench_stream_copy").collection_id)
    print(f"stream apply: COPY of the same documents already converted {baseline:,.0f}/s; pages of {PAGE:,} "
          "records, about 50% INSERT, 30% MODIFY, 20% REMOVE, through ingest.stream's commit")  # fmt: skip
    one, _ = run("bench_stream_1", 1)
    print(f"stream apply: 1 shard {one:,.0f} records/s, ratio {one / baseline:.2f}x of COPY (goal >= 0.5x)")
    for shards in (4, 16):
        spread, spread_waiting = run(f"bench_stream_spread_{shards}", shards, collections=shards)
        shared, shared_waiting = run(f"bench_stream_shared_{shards}", shards)
        print(f"stream apply: {shards} shards of one collection at once {shared:,.0f} records/s, {shared / one:.2f}x "
              f"of one shard, waiting for locks {shared_waiting:.0%} of their transactions' time; of {shards} "
              f"collections {spread:,.0f} records/s, waiting {spread_waiting:.0%}: one collection's locks cost "
              f"{1 - shared / spread:.0%} (goal: the locks are not what limits, under 20%)")  # fmt: skip
    pause_while_writing()


def pause_while_writing(shards: int = 16) -> None:
    """How long a pause waits for the fence (FOR UPDATE) while `shards` shards of one collection keep
    committing (FOR KEY SHARE, side by side): a liveness figure, as a multiple of one page's commit."""
    source = _source("bench_stream_pause")
    work = [(_shard(source, n), pages(n, PAGE * 4, seed=n)) for n in range(shards)]
    commits: list[float] = []

    def write(shard: Shard, shard_pages: list[list[dict[str, Any]]]) -> None:
        try:
            for page in shard_pages:
                started = time.perf_counter()
                if not stream._commit(shard, OWNER, page, at_tip=False, next_iterator="iterator"):
                    return  # paused
                commits.append(time.perf_counter() - started)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=item) for item in work]
    for thread in threads:
        thread.start()
    while len(commits) < shards:  # every shard under way
        time.sleep(0.01)
    started = time.perf_counter()
    lifecycle.pause(source.pk)
    waited = time.perf_counter() - started
    for thread in threads:
        thread.join()
    commit = sorted(commits)[len(commits) // 2]
    print(f"stream apply: a pause while {shards} shards of one collection commit waited {waited:.2f} s for "
          f"the commits in flight; one page's commit takes {commit:.2f} s (median), so {waited / commit:.1f}x "
          "(goal: a few commits, never starved by the writers)")  # fmt: skip
