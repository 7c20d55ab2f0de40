"""The wizard's Scan estimate comes from the engine's own pacing: a load run here on moto, under the virtual
clock (so only the budget's waits take time), must take about what `capacity.scan_pacing_seconds` says.
The real start (a worker taking the task, the supervisor's tick) is the estimate's fixed START_SECONDS and
is not measured here; the page's and a worker's real speed are bench/'s business."""

from __future__ import annotations

import pytest

from collections_app import capacity
from ingest import clock
from ingest.sizes import item_size
from tests.ingest.engine import create_source, load, make_table

# Within this factor either way: page sizes follow the items seen so far, so the last pages of each segment
# reserve a little more than they read.
FACTOR = 1.5


@pytest.mark.parametrize(("items", "rcu"), [(240, 8), (600, 25)])
def test_a_scan_takes_about_what_the_wizard_estimates(people, integration, aws, faults, items, rcu):
    faults.charge_like_dynamodb()
    make_table(aws.dynamodb, "t", items)
    size = sum(
        item_size(i) for page in aws.dynamodb.get_paginator("scan").paginate(TableName="t") for i in page["Items"]
    )
    source = create_source(people.acme, people.alice, integration, "t", rcu=rcu)
    started = clock.monotonic()
    load(source)
    took = clock.monotonic() - started
    estimated = capacity.scan_pacing_seconds(size, rcu)
    assert estimated / FACTOR <= took <= estimated * FACTOR, f"took {took:.1f} s, estimated {estimated:.1f} s"
