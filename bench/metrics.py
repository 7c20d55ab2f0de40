"""The cost of /metrics on the stream's apply path: throughput with the counters ÷ without (goal >= 0.97).

The apply path is `stream._commit` (records → documents, checkpoint, the source's figures, one transaction)
fed with pages of stream records already in memory, so AWS's and moto's round trips (which metrics don't
touch) don't drown the difference. "With" is what a worker does: the records counted by kind after the
commit, and botocore's after-call event counting the page's GetRecords; "without" skips both. The two
take turns page by page (after a warm-up that creates every document), so a machine that gets busier or
quieter meanwhile slows or speeds both alike; each one's figure is its records over its total time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from unittest import mock

from bench.setup import bench_source, moto_client
from collections_app.models import Source
from ingest import leases, metrics, stream
from ingest.models import Shard

PAGES, PAGE_SIZE, KEYS = 400, 250, 5_000
OWNER = "bench-metrics"
GET_RECORDS = SimpleNamespace(status_code=200)


def _records(start: int) -> list[dict[str, Any]]:
    """A page of stream records as GetRecords returns them (inserts, then modifies, over KEYS items)."""
    at = datetime.now(UTC)
    page = []
    for n in range(start, start + PAGE_SIZE):
        key = f"k{n % KEYS:05d}"
        page.append({
            "eventName": "INSERT" if n < KEYS else "MODIFY",
            "dynamodb": {
                "Keys": {"pk": {"S": key}},
                "NewImage": {"pk": {"S": key}, "n": {"N": str(n)}, "note": {"S": "x" * 80},
                             "tags": {"SS": ["a", "b"]}, "m": {"M": {"q": {"N": "1.5"}}}},
                "SequenceNumber": f"{n + 1:021d}",
                "ApproximateCreationDateTime": at,
            },
        })  # fmt: skip
    return page


def _page(shard: Shard, records: list[dict[str, Any]], with_metrics: bool) -> float:
    """Seconds to apply one page, as the worker would with or without the counters."""
    began = time.perf_counter()
    if with_metrics:
        metrics._after_call("after-call.dynamodb-streams.GetRecords", GET_RECORDS, {})
        assert stream._commit(shard, OWNER, records, at_tip=False, next_iterator="it")
    else:
        with mock.patch.object(metrics, "records_applied", lambda kinds: None):
            assert stream._commit(shard, OWNER, records, at_tip=False, next_iterator="it")
    return time.perf_counter() - began


def main(endpoint: str) -> dict[str, float]:
    dynamodb = moto_client(endpoint, "dynamodb")
    dynamodb.create_table(
        TableName="bench_metrics", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )  # fmt: skip
    source = bench_source("bench_metrics", rcu=10, name="metrics")
    Source.objects.filter(pk=source.pk).update(state=Source.State.PROCESSING_STREAM, load_finished_at=datetime.now(UTC))
    Shard.objects.create(source=source, stream_arn="arn:bench", shard_id="shardId-bench", leased_by=OWNER,
                         lease_expires_at=datetime.now(UTC) + timedelta(hours=1))  # fmt: skip
    shard = Shard.objects.select_related("source__integration__organisation", "source__collection").get(source=source)
    for start in range(0, KEYS, PAGE_SIZE):  # warm-up: every document exists, every timed record modifies
        _page(shard, _records(start), True)
    seconds = {True: 0.0, False: 0.0}
    for n in range(PAGES):
        with_metrics = n % 2 == 0
        seconds[with_metrics] += _page(shard, _records(KEYS + n * PAGE_SIZE), with_metrics)
    leases.release(Shard, shard.pk, OWNER)
    each = PAGES // 2 * PAGE_SIZE
    rate = {variant: each / spent for variant, spent in seconds.items()}
    ratio = rate[True] / rate[False]
    print(f"metrics on the stream's apply path: {rate[True]:,.0f} records/s with, {rate[False]:,.0f} without "
          f"({each:,} records each, pages of {PAGE_SIZE} taking turns): {ratio:.3f} (goal >= 0.97)")  # fmt: skip
    return {"with": rate[True], "without": rate[False], "ratio": ratio}
