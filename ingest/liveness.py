"""Invariant 8: every unit of work makes progress, or the source says why.

The supervisor's tick looks at each running source's units (scan segments, export files, readable
shards) and at its own calls (DescribeStream, DescribeExport). A unit without progress for
`timing.STALL_SECONDS` makes the source *stalled*, with the reason in words (what it waits on and for
how long, the trouble last met, or that no worker has picked it up); this shows on the collection's
page, in the API's current_status and in the admin. A stall that lasts `timing.ERROR_SECONDS` stops
the source with that reason: emailed, and retried by the supervisor like any error.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import Q

from collections_app.models import Source
from console.models import Heartbeat
from ingest import clock, lifecycle, logs, stream, timing
from ingest.models import ExportFile, LeasedWork, ScanSegment, Shard

log = logging.getLogger(__name__)


def _units(source: Source) -> list[LeasedWork]:
    if source.state == Source.State.SCANNING:
        return list(ScanSegment.objects.filter(source=source, done=False))
    if source.state == Source.State.DOWNLOADING_FROM_S3:
        return list(ExportFile.objects.filter(source=source, done=False))
    if source.state == Source.State.PROCESSING_STREAM:
        return list(Shard.objects.filter(stream.readable_shards(source), done=False))
    return []


def _unit_stall(unit: LeasedWork, since: datetime, now: datetime) -> str:
    """Why this unit has made no progress since `since`, or "" when it is within its bound."""
    quiet = (now - since).total_seconds()
    if quiet < timing.STALL_SECONDS:
        return ""
    held = unit.leased_by and unit.lease_expires_at and unit.lease_expires_at > now
    if held and unit.waiting_on and unit.waiting_since:
        waited = (now - unit.waiting_since).total_seconds()
        return f"{unit}: {unit.waiting_on} has not answered for {timing.duration(min(waited, quiet))}."
    if unit.problem and unit.problem_at and (now - unit.problem_at).total_seconds() < timing.STALL_SECONDS:
        return f"{unit}: no progress for {timing.duration(quiet)}; AWS keeps answering {unit.problem}. Retrying."
    if held:
        return f"{unit}: a worker holds it but has made no progress for {timing.duration(quiet)}."
    seen = Heartbeat.last_seen("worker")
    if seen and (now - seen).total_seconds() < timing.STALL_SECONDS:
        return (
            f"{unit}: queued {timing.duration(quiet)} ago and not started yet: the worker answers, but is busy "
            "with other work (or was stopped for a while). More worker processes would help."
        )
    return f"{unit}: waiting {timing.duration(quiet)} for a worker to pick it up. Is the worker running?"


def stall_reason(source: Source, now: datetime | None = None) -> str:
    """The first reason this source isn't moving, in words; "" when every unit is within its bound."""
    now = now or clock.now()
    started = source.state_changed_at or source.created_at
    if source.state == Source.State.INITIALIZING and not source.load_started_at:
        waited = (now - started).total_seconds()
        if waited >= timing.STALL_SECONDS:
            waited_for = timing.duration(waited)
            return f"The initial load has waited {waited_for} for a worker to start it. Is the worker running?"
    units = _units(source)
    finished_parents = {}
    if source.state == Source.State.PROCESSING_STREAM:
        parents = [u.parent_shard_id for u in units if u.parent_shard_id]
        finished_parents = dict(
            Shard.objects.filter(source=source, shard_id__in=parents).values_list("shard_id", "last_read_at")
        )
    for unit in units:
        progress = getattr(unit, "last_read_at", None) or unit.progress_at
        # A shard waits from when it could first be read: found, and its parent read to its end.
        readable_from = [
            getattr(unit, "discovered_at", None),
            finished_parents.get(getattr(unit, "parent_shard_id", "")),
        ]
        since = max(t for t in (progress, started, unit.not_before, *readable_from) if t is not None)
        reason = _unit_stall(unit, since, now)
        if reason:
            return reason
    if source.poll_error and source.poll_failing_since:
        failing = (now - source.poll_failing_since).total_seconds()
        if failing >= timing.STALL_SECONDS:
            return f"{source.poll_error} — failing for {timing.duration(failing)}, so new shards can't be found."
    if source.state == Source.State.PROCESSING_STREAM and source.shards_discovered_at is None:
        waited = (now - started).total_seconds()
        if waited >= timing.STALL_SECONDS:
            return f"The stream's shards haven't been listed for {timing.duration(waited)} (DescribeStream)."
    return ""


def check(source: Source) -> str:
    """Record the source's stall (or its end), and stop it with the reason once the stall has lasted
    `timing.ERROR_SECONDS`. Returns the reason."""
    now = clock.now()
    reason = stall_reason(source, now)
    if not reason:
        if source.stalled:
            Source.objects.filter(pk=source.pk).update(stalled="", stalled_since=None)
            log.info("%s moves again", source, extra=logs.about(source))
        return ""
    since = source.stalled_since or now
    Source.objects.filter(pk=source.pk).update(stalled=reason, stalled_since=since)
    if not source.stalled:
        log.warning("%s is stalled: %s", source, reason, extra=logs.about(source))
    if (now - since) >= timedelta(seconds=timing.ERROR_SECONDS):
        lifecycle.stop(
            source,
            f"Stalled for {timing.duration((now - since).total_seconds())}: {reason} Millrace retries by itself; "
            "check the worker and AWS, or press Retry.",
        )
    return reason


def check_all() -> None:
    """Check the sources that may be stalled: those with a unit of work quiet for the stall bound, a failing
    poll, a load not yet started, or a stall to clear. A few queries whatever the number of sources."""
    now = clock.now()
    cutoff = now - timing.stall_after()
    running = Source.objects.filter(error="", suspended_at__isnull=True)
    suspects = set(running.exclude(stalled="").values_list("pk", flat=True))
    suspects |= set(running.exclude(poll_error="").values_list("pk", flat=True))
    suspects |= set(
        running.filter(state=Source.State.INITIALIZING, state_changed_at__lt=cutoff).values_list("pk", flat=True)
    )
    for model, progress in ((ScanSegment, "progress_at"), (ExportFile, "progress_at"), (Shard, "last_read_at")):
        quiet = Q(**{f"{progress}__lt": cutoff}) | Q(**{f"{progress}__isnull": True})
        suspects |= set(model.objects.filter(quiet, done=False).values_list("source_id", flat=True))
    for source in running.filter(pk__in=suspects).select_related("integration__organisation", "collection"):
        check(source)
