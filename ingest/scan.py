"""Initial load by parallel, strongly consistent Scan, within the read capacity the user set.

Each segment is its own unit of work (a row with a lease and a LastEvaluatedKey checkpoint) run by a
Celery task for a time slice at a time, so more workers load faster and a killed worker's segment is
taken over from its last committed page.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass
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


@dataclass
class _Call:
    """A page's Scan call, started aside (maybe still in flight), and its reservation in the budget."""

    spend_id: int
    reserved: float
    limit: int | None
    reserved_at: float  # clock.monotonic()
    answer: Future[tuple[dict[str, Any], float, list[int]]]
    settled: bool = False


def _scan_pages(segment: ScanSegment, source: Source, hold: leases.Hold, deadline: float) -> str:
    """Read ahead by one page: the next page's call (reserved in the budget first, as every call) goes out
    as soon as a page is answered, and this page is converted and committed while it is in flight. Only
    the main thread uses the database; the next page's documents are committed only after this one's, with
    their checkpoint, so a crash, a lapsed lease or a stopped source between the two re-reads the next
    page from this one's checkpoint."""
    table = f"table {source.table_name} in {source.region}"
    try:
        with hold.waiting("sts:AssumeRole"):
            dynamodb = errors.engine_client(source, "dynamodb")
    except aws.AwsError as error:
        _fail(source, error, "sts:AssumeRole")
        return "failed"
    measured = _measured(source)
    with clock.aside() as start_aside:
        trip_started: float | None = None

        def call(start_key: dict[str, Any] | None) -> _Call | None:
            nonlocal trip_started
            if trip_started is not None:  # from one call's reservation to the next's: the segment's round trip
                measured.trip(clock.monotonic() - trip_started)
            started = _start_call(dynamodb, segment, source, hold, measured, start_aside, start_key, deadline)
            trip_started = started.reserved_at if started else None
            return started

        current = call(key_from_json(segment.last_evaluated_key))
        ahead: _Call | None = None
        try:
            while current is not None:
                answered = _answer(current, segment, source, hold, measured, table)
                if isinstance(answered, str):
                    return answered
                page, consumed = answered
                next_key = page.get("LastEvaluatedKey")
                ahead = call(next_key) if next_key is not None and clock.monotonic() < deadline else None
                outcome = _commit(segment, source, hold, page, consumed, table)
                if outcome:
                    return outcome
                current, ahead = ahead, None
        finally:
            for unanswered in (current, ahead):
                if unanswered is not None and not unanswered.settled:
                    _drain(unanswered)
    return "more"


def _start_call(
    dynamodb: Any,
    segment: ScanSegment,
    source: Source,
    hold: leases.Hold,
    measured: pacing.Measured,
    start_aside: Any,
    start_key: dict[str, Any] | None,
    deadline: float,
) -> _Call | None:
    """Plan the page, reserve its read capacity (None when the deadline passes first), and start its call
    aside."""
    plan = pacing.plan_page(
        source.rcu or 1,
        measured.item_bytes,
        call_seconds=measured.call_seconds,
        round_trip=measured.round_trip,
        in_flight=in_flight(source.pk),
        margin=measured.margin,
    )
    with hold.waiting("read capacity (the RCU budget)"):
        spend_id = budget.reserve(source.pk, source.rcu or 1, plan.reserve, deadline=deadline)
    if spend_id is None:
        return None
    reserved_at = clock.monotonic()
    request: dict[str, Any] = {
        "TableName": source.table_name,
        "ConsistentRead": True,
        "ReturnConsumedCapacity": "TOTAL",
    }
    if segment.total_segments > 1:  # a one-segment scan is a plain Scan
        request.update(Segment=segment.segment, TotalSegments=segment.total_segments)
    if plan.limit:
        request["Limit"] = plan.limit
    if start_key:
        request["ExclusiveStartKey"] = start_key

    def scan() -> tuple[dict[str, Any], float, list[int]]:
        # No database here: this runs in the aside thread. The items' sizes plan the next page.
        started = clock.monotonic()
        page = dynamodb.scan(**request)
        took = clock.monotonic() - started
        return page, took, [item_size(i) for i in page["Items"]]

    with hold.waiting("dynamodb:Scan"):  # under the virtual clock the call runs here
        answer = start_aside(scan)
    return _Call(spend_id, plan.reserve, plan.limit, reserved_at, answer)


def _answer(
    call: _Call, segment: ScanSegment, source: Source, hold: leases.Hold, measured: pacing.Measured, table: str
) -> tuple[dict[str, Any], float] | str:
    """Wait for the call and settle its reservation: (the page, its cost), or how the segment ends (a
    throttled call backs off, a refused one fails the source)."""
    try:
        with hold.waiting("dynamodb:Scan"):
            page, took, sizes = call.answer.result()
    except Exception as exc:  # noqa: BLE001 - sorted into throttling (retry) and real failures below
        error = errors.as_error(exc, table)
        call.settled = True
        budget.settle(call.spend_id, _charged(error, call.reserved))
        if errors.should_retry(error):  # throttling is DynamoDB asking us to slow down, never a failure
            leases.back_off(ScanSegment, segment.pk, segment.retries, error, "dynamodb:Scan")
            return "backoff"
        _fail(source, error, "dynamodb:Scan")
        return "failed"
    measured.call(took)
    consumed = float(page.get("ConsumedCapacity", {}).get("CapacityUnits", call.reserved))
    call.settled = True
    budget.settle(call.spend_id, consumed)
    # Plan from the items' own sizes: a small page's cost is rounded up to 4 KB and says little.
    measured.page(sizes, call.limit)
    return page, consumed


def _charged(error: aws.AwsError, reserved: float) -> float:
    """A throttled or refused page isn't charged; one whose answer was lost (a read timeout, a dropped
    connection, a server error) may have been read and charged all the same: it keeps its reservation for
    the second after, as an answered page would."""
    never_sent = {"ConnectTimeoutError", "EndpointConnectionError"}
    return reserved if error.code in errors.TRANSIENT and error.code not in never_sent else 0.0


def _drain(call: _Call) -> None:
    """A call read ahead whose page won't be committed (the segment stopped, or failed): wait for it and
    settle what it cost, so the budget counts it as DynamoDB does. Its page is dropped: the checkpoint
    still points before it."""
    try:
        try:
            page, _, _ = call.answer.result()
            units = float(page.get("ConsumedCapacity", {}).get("CapacityUnits", call.reserved))
        except Exception as exc:  # noqa: BLE001 - what it cost is all we need from it
            units = _charged(errors.as_error(exc, "a Scan page read ahead"), call.reserved)
        call.settled = True
        budget.settle(call.spend_id, units)
    except Exception:  # noqa: BLE001 - never hide why the segment stopped; the reservation lapses by itself
        log.warning("could not settle a Scan page read ahead", exc_info=True)


def _commit(
    segment: ScanSegment, source: Source, hold: leases.Hold, page: dict[str, Any], consumed: float, table: str
) -> str | None:
    """Convert the page and commit its documents with its checkpoint, behind the fence. None: go on."""
    items = page["Items"]
    next_key = page.get("LastEvaluatedKey")
    now = clock.now()
    key_names = source.key_names
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
    return None


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
