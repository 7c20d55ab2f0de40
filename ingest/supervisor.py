"""The supervisor tick (Celery beat): hand out work no one holds, follow exports, discover shards, start
stalled loads, retry stopped sources, and say what keeps a source from moving (invariant 8).

Every unit of work is a row; a task for it may be lost (a killed worker, a lost broker message) and
the tick queues a new one once the row's lease has lapsed. Tasks that find the work held exit.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q

from collections_app.models import Source
from console.models import Heartbeat
from ingest import alerts, clock, errors, export, leases, lifecycle, liveness, logs, metrics, stream, tasks, timing
from ingest.models import ExportFile, ScanSegment, Shard

log = logging.getLogger(__name__)

START_GRACE = timedelta(seconds=60)
ACTIVE = Q(error="") & Q(suspended_at__isnull=True)
TASKS = {ScanSegment: "scan_segment", ExportFile: "load_export_file", Shard: "read_shard"}
UNITS = {ScanSegment: "scan_segment", ExportFile: "export_file", Shard: "shard"}  # metrics' labels


def tick() -> None:
    with metrics.TICK_SECONDS.time():
        _tick()


def _taken_over(model: type[ScanSegment | ExportFile | Shard], holder: str) -> None:
    """Work handed out while a holder is still named: its lease lapsed (the worker died or was stopped)."""
    if holder:
        metrics.LEASE_TAKEOVERS.labels(UNITS[model]).inc()


def _tick() -> None:
    now = clock.now()
    for source in Source.objects.filter(ACTIVE, state=Source.State.INITIALIZING, load_started_at__isnull=True):
        if now - source.created_at > START_GRACE:  # its start task was lost
            tasks.start_initial_load.delay(source.pk)

    for model in (ScanSegment, ExportFile):
        work = model.objects.filter(leases.needing_dispatch(model), source__error="", source__suspended_at__isnull=True)
        for pk, holder in list(work.values_list("pk", "leased_by")):
            _taken_over(model, holder)
            dispatch(model, pk)

    for pk in list(Source.objects.filter(ACTIVE, export.due_for_poll(now)).values_list("pk", flat=True)):
        Source.objects.filter(pk=pk).update(export_checked_at=now)  # the next tick doesn't queue it again
        tasks.poll_export.delay(pk)

    queue_discoveries(now)
    dispatch_readable_shards(now)

    liveness.check_all()
    alerts.check_all()
    retry_failed_sources()


def queue_discoveries(now: datetime) -> None:
    """DescribeStream for the sources due one, the longest waiting first, spread out with countdowns so
    that the calls go at most `stream.DESCRIBE_STREAM_PER_SECOND` (half the account's limit of 10 a
    second), whatever the number of collections: a tick queues no more than a tick's worth, new sources
    first. A listing that failed is tried again after `timing.DISCOVERY_RETRY_SECONDS`, so a stall it
    caused clears soon."""
    streaming = Source.objects.filter(ACTIVE, state=Source.State.PROCESSING_STREAM)
    interval = stream.discovery_interval(streaming.count())
    retry = now - timedelta(seconds=timing.DISCOVERY_RETRY_SECONDS)
    due = streaming.filter(
        Q(shards_discovered_at__isnull=True)
        | Q(shards_discovered_at__lt=now - interval)
        | (~Q(poll_error="") & Q(shards_discovered_at__lt=retry))
    )
    per_tick = max(1, int(stream.DESCRIBE_STREAM_PER_SECOND * timing.tick()))
    oldest_first = due.order_by(F("shards_discovered_at").asc(nulls_first=True), "pk")
    chosen = list(oldest_first.values_list("pk", flat=True)[:per_tick])
    for n, pk in enumerate(chosen):
        Source.objects.filter(pk=pk).update(shards_discovered_at=now)  # paced, even when it fails
        tasks.discover_shards.apply_async((pk,), countdown=n / stream.DESCRIBE_STREAM_PER_SECOND)


DESCRIBE_STREAM_SLOT = "describe-stream"  # a Heartbeat row: when the last DescribeStream went


def describe_stream_wait() -> float:
    """0 when a DescribeStream may go now (the moment is then taken), else the seconds until one may. A hard
    cap of `stream.DESCRIBE_STREAM_PER_SECOND` across every worker and machine: countdowns alone are not one,
    since a busy worker runs the tasks that came due meanwhile together (the shards bench saw 10 in a second)."""
    now = clock.now()
    gap = timedelta(seconds=1 / stream.DESCRIBE_STREAM_PER_SECOND)
    with transaction.atomic():
        Heartbeat.objects.get_or_create(name=DESCRIBE_STREAM_SLOT, defaults={"seen_at": now - gap})
        slot = Heartbeat.objects.select_for_update().get(name=DESCRIBE_STREAM_SLOT)
        if now - slot.seen_at < gap:
            return (slot.seen_at + gap - now).total_seconds()
        Heartbeat.objects.filter(pk=slot.pk).update(seen_at=now)
    return 0.0


def discover_shards_paced(source_id: int) -> None:
    """`discover_shards` when the cap allows, else queued again for when it may (with jitter, so that the
    deferred don't all come back at the same moment)."""
    wait = describe_stream_wait()
    if wait > 0:
        tasks.discover_shards.apply_async((source_id,), countdown=wait * random.uniform(1.0, 3.0))
        return
    discover_shards(source_id)


def discover_shards(source_id: int) -> None:
    """DescribeTable (is it still our stream?) then DescribeStream. A failure is recorded on the source:
    shown as a stall once it lasts, and an error (emailed, retried) if it goes on."""
    source = Source.objects.select_related("integration__organisation").filter(pk=source_id).first()
    if source is None or source.state != Source.State.PROCESSING_STREAM or source.error or source.suspended_at:
        return
    try:
        replaced = stream.stream_replaced(source)
        if replaced:
            lifecycle.changes_missed(source.pk, replaced)
            return
        stream.discover(source)
    except Exception as exc:  # noqa: BLE001 - recorded, shown, retried at the next discovery
        error = errors.as_error(exc, f"the stream of table {source.table_name}")
        log.warning("shard discovery for %s failed: %s", source, error, extra=logs.about(source))
        action = f"dynamodb:{error.operation}" if error.operation else "dynamodb:DescribeStream"
        Source.objects.filter(pk=source.pk).update(poll_error=f"{action} failed: {error.code}: {error.message}")
        Source.objects.filter(pk=source.pk, poll_failing_since__isnull=True).update(poll_failing_since=clock.now())
        return
    dispatch_shards(source)


def dispatch(model: type[ScanSegment | ExportFile | Shard], pk: int, *, countdown: float = 0.0) -> None:
    """Queue the task for one unit of work (in `countdown` seconds) and note when it is due to start, so
    the tick doesn't queue another meanwhile."""
    task = getattr(tasks, TASKS[model])
    model.objects.filter(pk=pk).update(dispatched_at=clock.now() + timedelta(seconds=countdown))
    if countdown > 0:
        task.apply_async((pk,), countdown=countdown)
    else:
        task.delay(pk)


def dispatch_when_due(model: type[ScanSegment | ExportFile | Shard], pk: int) -> None:
    """Queue the unit's next run for its `not_before` (an idle shard's next poll, a backoff's end): the
    worker slot is free meanwhile, so one worker follows hundreds of quiet shards."""
    not_before = model.objects.filter(pk=pk).values_list("not_before", flat=True).first()
    _dispatch_at(model, pk, not_before)


def _dispatch_at(model: type[ScanSegment | ExportFile | Shard], pk: int, not_before: datetime | None) -> None:
    wait = (not_before - clock.now()).total_seconds() if not_before else 0.0
    dispatch(model, pk, countdown=max(0.0, wait))


# Shards of running, streaming sources that can be read now.
READABLE = (
    Q(source__state=Source.State.PROCESSING_STREAM, source__error="", source__suspended_at__isnull=True)
    & stream.PARENT_FINISHED
)


def dispatch_readable_shards(now: datetime) -> None:
    """Each shard due now gets a `read_shard` of its own; quiet shards due before the next tick are polled
    in batches (`poll_quiet_shards`), each batch queued for when its last shard is due, so that hundreds
    of quiet shards cost a few tasks a tick and busy shards never wait behind their polls."""
    due_by = now + timedelta(seconds=timing.tick())
    shards = Shard.objects.filter(READABLE, leases.needing_dispatch(Shard, due_by=due_by))
    quiet: list[Shard] = []
    for shard in shards.only(*stream.QUIET_FIELDS, "leased_by"):
        _taken_over(Shard, shard.leased_by)
        if stream.quiet(shard):
            quiet.append(shard)
        elif shard.not_before is None or shard.not_before <= now:
            dispatch(Shard, shard.pk)
    quiet.sort(key=lambda s: s.not_before)
    batch: list[Shard] = []
    for shard in quiet:
        if batch and (len(batch) == stream.QUIET_BATCH or (shard.not_before - batch[0].not_before).total_seconds() > 1):
            _dispatch_batch(batch, now)
            batch = []
        batch.append(shard)
    if batch:
        _dispatch_batch(batch, now)


def _dispatch_batch(shards: list[Shard], now: datetime) -> None:
    due = max(shards[-1].not_before, now)
    pks = [shard.pk for shard in shards]
    Shard.objects.filter(pk__in=pks).update(dispatched_at=due)
    tasks.poll_quiet_shards.apply_async((pks,), countdown=(due - now).total_seconds())


def after_idle_poll(shard_pk: int) -> None:
    """A shard that found nothing: polled again by its own task soon, or, once quiet, by the tick's batches
    (its queued mark is cleared so that the tick takes it)."""
    shard = Shard.objects.filter(pk=shard_pk).only(*stream.QUIET_FIELDS).first()
    if shard is None:
        return
    if stream.quiet(shard):
        Shard.objects.filter(pk=shard_pk).update(dispatched_at=None)
    else:
        _dispatch_at(Shard, shard_pk, shard.not_before)


def dispatch_shards(source: Source) -> None:
    """After a listing: a task for each readable shard due now, but for quiet ones (the tick's batches)."""
    ready = Shard.objects.filter(stream.readable_shards(source), leases.needing_dispatch(Shard))
    for shard in ready.only(*stream.QUIET_FIELDS):
        if not stream.quiet(shard):
            dispatch(Shard, shard.pk)


def retry_failed_sources() -> None:
    """Retry a stopped source after a backoff, from its checkpoints; after ten clean minutes the count of
    automatic retries starts again (so the next new error is emailed)."""
    now = clock.now()
    for source in Source.objects.exclude(error="").filter(suspended_at__isnull=True):
        if source.next_retry_at and now >= source.next_retry_at:
            log.info(
                "retrying %s automatically (%d): %s", source, source.auto_retries + 1, source.error,
                extra=logs.about(source),
            )  # fmt: skip
            lifecycle.retry(source.pk, automatic=True)
    Source.objects.filter(error="", auto_retries__gt=0, error_at__lt=now - timedelta(minutes=10)).update(
        auto_retries=0, error_at=None
    )
