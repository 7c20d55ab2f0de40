"""Initial load by parallel, strongly consistent Scan, within the read capacity the user set.

Each segment is its own unit of work (a row with a lease and a LastEvaluatedKey checkpoint) run by a
Celery task for a time slice at a time, so more workers load faster and a killed worker's segment is
taken over from its last committed page.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.db import transaction
from django.db.models import F

from collections_app.models import Source
from ingest import budget, clock, convert, errors, leases, lifecycle, logs, timing, writer
from ingest.keys import key_from_json, key_to_json
from ingest.models import ScanSegment
from ingest.sizes import item_size
from integrations import aws

log = logging.getLogger(__name__)

BYTES_PER_RCU = 4096
FULL_PAGE_RCU = 256  # a 1 MB page read strongly consistent costs at most 1 MB ÷ 4 KB
SAFETY = 1.25  # reserve a quarter more than the item sizes seen so far suggest
SEGMENT_BYTES = 256 * 1024**2
PAGES_PER_SECOND = 4


def segment_count(source: Source, size_bytes: int) -> int:
    """About one segment per 256 MB, at least a few when the budget allows (so workers share the load),
    never more than the budget (each page costs at least one RCU)."""
    budget_cap = max(1, min(64, source.rcu or 1))
    floor = min(4, max(1, (source.rcu or 1) // 10))
    return max(1, min(budget_cap, max(floor, math.ceil(size_bytes / SEGMENT_BYTES))))


def create_segments(source: Source, size_bytes: int) -> list[int]:
    total = segment_count(source, size_bytes)
    now = clock.now()  # their tasks are queued on commit: the supervisor leaves them alone meanwhile
    ScanSegment.objects.bulk_create(
        [ScanSegment(source=source, segment=n, total_segments=total, dispatched_at=now) for n in range(total)]
    )
    return list(ScanSegment.objects.filter(source=source).values_list("pk", flat=True))


def page_plan(
    rcu_budget: float, total_segments: int, item_bytes: float, call_seconds: float = 0.0
) -> tuple[int | None, float]:
    """(Limit, RCU to reserve) for the next page. A page's cost counts from its call's start until a second
    after its answer (budget.py), so a segment whose calls take d seconds can spend at most
    share × 1/(1 + d) a second: pages are sized to that, from the calls' measured duration (never fewer
    than four a second's worth: small enough that an unused reservation is soon spent)."""
    d = max(call_seconds, 1 / PAGES_PER_SECOND)
    share = max(1.0, rcu_budget / max(1, total_segments) * d / (1 + d))
    if share >= FULL_PAGE_RCU:
        return None, FULL_PAGE_RCU
    limit = max(1, int(share * BYTES_PER_RCU / item_bytes))
    # What the page costs if its items are of the size seen so far, plus the safety margin for items larger
    # than those; the margin is rounded, not rounded up, so that a page of one 3.5 KB item reserves the
    # 1 RCU it costs, not 2.
    expected = limit * item_bytes / BYTES_PER_RCU
    reserve = max(math.ceil(expected), round(expected * SAFETY), 1)
    return limit, float(min(rcu_budget, reserve))


def run_segment(segment_id: int, *, owner: str | None = None, slice_seconds: float = timing.SCAN_SLICE) -> str:
    """Scan one segment for a time slice. Returns done | more | backoff (try again at the segment's
    `not_before`) | held | lost | stopped | failed."""
    owner = owner or leases.new_owner()
    segment = ScanSegment.objects.select_related("source__integration__organisation", "source__collection").filter(
        pk=segment_id
    )
    segment = segment.first()
    if segment is None:
        return "lost"  # re-synced meanwhile
    source = segment.source
    if segment.done:
        return "done"
    if source.error or source.suspended_at:
        return "stopped"
    with leases.held(ScanSegment, segment_id, owner) as hold:
        if hold is None:
            return "held"
        return _scan_pages(segment, source, hold, clock.monotonic() + slice_seconds)


def _scan_pages(segment: ScanSegment, source: Source, hold: leases.Hold, deadline: float) -> str:
    table = f"table {source.table_name} in {source.region}"
    try:
        with hold.waiting("sts:AssumeRole"):
            dynamodb = errors.engine_client(source, "dynamodb")
    except aws.AwsError as error:
        _fail(source, error, "sts:AssumeRole")
        return "failed"
    key_names = source.key_names
    item_bytes = 4096.0  # until the first page shows the real sizes
    call_seconds = 0.0  # the Scan calls' duration, smoothed
    start_key = key_from_json(segment.last_evaluated_key)
    while clock.monotonic() < deadline:
        limit, reserve_units = page_plan(source.rcu or 1, segment.total_segments, item_bytes, call_seconds)
        with hold.waiting("read capacity (the RCU budget)"):
            spend_id = budget.reserve(source.pk, source.rcu or 1, reserve_units, deadline=deadline)
        if spend_id is None:
            return "more"
        request: dict[str, Any] = {
            "TableName": source.table_name,
            "ConsistentRead": True,
            "ReturnConsumedCapacity": "TOTAL",
        }
        if segment.total_segments > 1:  # a one-segment scan is a plain Scan
            request.update(Segment=segment.segment, TotalSegments=segment.total_segments)
        if limit:
            request["Limit"] = limit
        if start_key:
            request["ExclusiveStartKey"] = start_key
        try:
            started = clock.monotonic()
            with hold.waiting("dynamodb:Scan"):
                page = dynamodb.scan(**request)
            took = clock.monotonic() - started
            call_seconds = took if not call_seconds else 0.7 * call_seconds + 0.3 * took
        except Exception as exc:  # noqa: BLE001 - sorted into throttling (retry) and real failures below
            budget.settle(spend_id, 0)
            error = errors.as_error(exc, table)
            if errors.should_retry(error):  # throttling is DynamoDB asking us to slow down, never a failure
                leases.back_off(ScanSegment, segment.pk, segment.retries, error, "dynamodb:Scan")
                return "backoff"
            _fail(source, error, "dynamodb:Scan")
            return "failed"
        consumed = float(page.get("ConsumedCapacity", {}).get("CapacityUnits", reserve_units))
        budget.settle(spend_id, consumed)
        items = page["Items"]
        next_key = page.get("LastEvaluatedKey")
        now = clock.now()
        try:
            changes = [
                writer.Change(convert.document_id(item, key_names), convert.item_to_json(item), now) for item in items
            ]
        except (KeyError, TypeError, ValueError) as exc:
            lifecycle.stop(source, f"A Scan page of {table} could not be converted: {type(exc).__name__}: {exc}")
            return "failed"
        with transaction.atomic():
            if not lifecycle.lock_source(source.pk, Source.State.SCANNING):
                return "lost"  # paused, failed or re-synced since the page was read
            if not leases.holds(ScanSegment, segment.pk, hold.owner):
                return "lost"  # another worker took the segment over; its pages win, ours are dropped
            if not ScanSegment.objects.filter(pk=segment.pk, pages=segment.pages).exists():
                return "lost"  # ... and moved its checkpoint on while our lease had lapsed
            writer.apply(source.collection_id, changes)
            ScanSegment.objects.filter(pk=segment.pk).update(
                last_evaluated_key=key_to_json(next_key),
                done=next_key is None,
                items_loaded=F("items_loaded") + len(items),
                pages=F("pages") + 1,
                rcu_consumed=F("rcu_consumed") + consumed,
                progress_at=now,
                retries=0,
                problem="",
            )
            segment.pages += 1
            segment.retries = 0
            Source.objects.filter(pk=source.pk).update(
                items_loaded=F("items_loaded") + len(items), rcu_consumed=F("rcu_consumed") + consumed
            )
            leases.renew(ScanSegment, segment.pk, hold.owner)
            if next_key is None:
                _finish_if_last(source.pk)
                return "done"
        start_key = next_key
        if items:
            # Plan from the items' own sizes: a small page's cost is rounded up to 4 KB and says little.
            seen = sum(item_size(i) for i in items) / len(items)
            item_bytes = max(seen, item_bytes * 0.9)
    return "more"


def _finish_if_last(source_id: int) -> None:
    """Called in the transaction that finished a segment: the last one ends the initial load."""
    if not ScanSegment.objects.filter(source_id=source_id, done=False).exists():
        lifecycle.load_finished(source_id)


def _fail(source: Source, error: aws.AwsError, action: str) -> None:
    table = f"table {source.table_name} in {source.region}"
    message = errors.explain(error, action=action, resource=table, integration_name=source.integration.name)
    log.warning("scan of %s failed: %s", source, message, extra=logs.about(source))
    lifecycle.stop(source, message)
