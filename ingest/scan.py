"""Initial load by parallel, strongly consistent Scan, within the read capacity the user set.

Each segment is its own unit of work (a row with a lease and a LastEvaluatedKey checkpoint) run by a
Celery task for a time slice at a time, so more workers load faster and a killed worker's segment is
taken over from its last committed page.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import F

from collections_app.models import Source
from ingest import budget, clock, convert, errors, leases, lifecycle, logs, pacing, timing, writer
from ingest.keys import key_from_json, key_to_json
from ingest.models import ScanSegment
from ingest.sizes import item_size
from integrations import aws

log = logging.getLogger(__name__)


def segment_count(source: Source, size_bytes: int, *, item_count: int = 0, round_trip: float = 0.0) -> int:
    """`pacing.segment_total` for the source's budget, the table's size and mean item (DescribeTable's), and
    the round trip measured before the load."""
    item_bytes = size_bytes / item_count if size_bytes and item_count else pacing.BYTES_PER_RCU
    return pacing.segment_total(source.rcu or 1, size_bytes, item_bytes, round_trip)


def create_segments(source: Source, size_bytes: int, *, item_count: int = 0, round_trip: float = 0.0) -> list[int]:
    total = segment_count(source, size_bytes, item_count=item_count, round_trip=round_trip)
    now = clock.now()  # their tasks are queued on commit: the supervisor leaves them alone meanwhile
    ScanSegment.objects.bulk_create(
        [ScanSegment(source=source, segment=n, total_segments=total, dispatched_at=now) for n in range(total)]
    )
    return list(ScanSegment.objects.filter(source=source).values_list("pk", flat=True))


def in_flight(source_id: int) -> int:
    """Segments of the source being read now (held by a live lease): the pages are sized for them."""
    live = ScanSegment.objects.filter(source_id=source_id, done=False, lease_expires_at__gt=clock.now())
    return max(1, live.exclude(leased_by="").count())


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
    measured = _measured(source)
    start_key = key_from_json(segment.last_evaluated_key)
    trip_started: float | None = None
    while clock.monotonic() < deadline:
        if trip_started is not None:  # the last page's call, conversion and write: the round trip
            measured.trip(clock.monotonic() - trip_started)
        plan = pacing.plan_page(
            source.rcu or 1,
            measured.item_bytes,
            call_seconds=measured.call_seconds,
            round_trip=measured.round_trip,
            in_flight=in_flight(source.pk),
            margin=measured.margin,
        )
        limit, reserve_units = plan.limit, plan.reserve
        with hold.waiting("read capacity (the RCU budget)"):
            spend_id = budget.reserve(source.pk, source.rcu or 1, reserve_units, deadline=deadline)
        if spend_id is None:
            return "more"
        trip_started = clock.monotonic()
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
            measured.call(clock.monotonic() - started)
        except Exception as exc:  # noqa: BLE001 - sorted into throttling (retry) and real failures below
            error = errors.as_error(exc, table)
            # A throttled or refused page isn't charged; one whose answer was lost (a read timeout, a dropped
            # connection, a server error) may have been read and charged all the same: it keeps its
            # reservation for the second after, as an answered page would.
            never_sent = {"ConnectTimeoutError", "EndpointConnectionError"}
            charged = error.code in errors.TRANSIENT and error.code not in never_sent
            budget.settle(spend_id, reserve_units if charged else 0)
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
        # Plan from the items' own sizes: a small page's cost is rounded up to 4 KB and says little.
        measured.page([item_size(i) for i in items], limit)
    return "more"


_MEASURED: dict[tuple[int, object], pacing.Measured] = {}


def _measured(source: Source) -> pacing.Measured:
    """The source's figures as this process measured them, shared by its segments and kept from one slice
    to the next, so that a segment's first page is planned from what the others saw. Until a page shows the
    real sizes: what the pages read so far cost an item (at most what they read: a page is rounded up to
    4 KB), else DescribeTable's mean item."""
    key = (source.pk, source.load_started_at)  # a re-sync's load starts afresh
    if key not in _MEASURED:
        if len(_MEASURED) > 1000:
            _MEASURED.clear()
        if source.items_loaded:
            guess = source.rcu_consumed * pacing.BYTES_PER_RCU / source.items_loaded
        elif source.table_item_count:
            guess = source.table_size_bytes / source.table_item_count
        else:
            guess = 0
        _MEASURED[key] = pacing.Measured(min(guess, pacing.BYTES_PER_RCU) or float(pacing.BYTES_PER_RCU))
    return _MEASURED[key]


def _finish_if_last(source_id: int) -> None:
    """Called in the transaction that finished a segment: the last one ends the initial load."""
    if not ScanSegment.objects.filter(source_id=source_id, done=False).exists():
        lifecycle.load_finished(source_id)


def _fail(source: Source, error: aws.AwsError, action: str) -> None:
    table = f"table {source.table_name} in {source.region}"
    message = errors.explain(error, action=action, resource=table, integration_name=source.integration.name)
    log.warning("scan of %s failed: %s", source, message, extra=logs.about(source))
    lifecycle.stop(source, message)
