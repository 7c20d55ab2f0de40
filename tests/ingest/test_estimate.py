"""The wizard's Scan estimate comes from the engine's own pacing (ingest.pacing): a load run here on moto,
under the virtual clock (so only the budget's waits and the injected call latency take time), must take
about what `capacity.scan_pacing_seconds` says for the same budget, items, round trip and segments in flight
(here one: the test runs one segment at a time). The real start (a worker taking the task, the supervisor's
tick) is the estimate's fixed START_SECONDS and is not measured here; a worker's real speed is bench/'s
business."""

from __future__ import annotations

import pytest

from collections_app import capacity
from ingest import clock
from ingest.sizes import item_size
from tests.ingest.engine import create_source, load, make_table

# Within this factor either way: the estimate doesn't model the budget's leftover below a page nor the last,
# partial page of each segment.
FACTOR = 1.5


@pytest.mark.parametrize(
    ("items", "rcu", "latency"),
    [(240, 8, 0.0), (300, 25, 0.0), (200, 8, 0.3), (500, 25, 1.0)],
    ids=["8 RCU", "25 RCU", "8 RCU, 0.3 s calls", "25 RCU, 1 s calls"],
)
def test_a_scan_takes_about_what_the_wizard_estimates(people, integration, aws, faults, items, rcu, latency):
    faults.charge_like_dynamodb()
    make_table(aws.dynamodb, "t", items)
    sizes = [item_size(i) for page in aws.dynamodb.get_paginator("scan").paginate(TableName="t") for i in page["Items"]]
    if latency:
        faults.slow("dynamodb", "Scan", latency)
    source = create_source(people.acme, people.alice, integration, "t", rcu=rcu)
    started = clock.monotonic()
    load(source)
    took = clock.monotonic() - started
    estimated = capacity.scan_pacing_seconds(
        sum(sizes), rcu, item_bytes=sum(sizes) / len(sizes), call_seconds=latency, round_trip=latency, in_flight=1
    )
    said = f"took {took:.1f} s, estimated {estimated:.1f} s ({took / estimated:.2f}×)"
    assert estimated / FACTOR <= took <= estimated * FACTOR, said
