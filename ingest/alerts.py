"""Lag alerts: a collection that falls behind its table by more than its threshold (or stops reading while
its stream has changes) emails the organisation once, and once again when it has caught up.

Checked by the supervisor's tick from the same figures as /metrics (ingest/lag.py), so the page, the API,
the email and a Prometheus alert agree. Each transition is a conditional update of the alert's row, so
two ticks racing send one email, not two.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, QuerySet

from collections_app.models import Collection, Source
from console.models import Heartbeat
from ingest import clock, events, lag, logs, notify, samples, timing
from ingest.models import LagAlert, Shard

log = logging.getLogger(__name__)


def shard_figures(source_ids: QuerySet | list[int]) -> dict[int, lag.Shards]:
    """Each source's unfinished shards, in one query (`source_ids`: a `.values("pk")` subquery, or the ids of
    the sources a page lists). A source without unfinished shards has no entry."""
    rows = (
        Shard.objects.filter(source_id__in=source_ids, done=False)
        .values("source_id")
        .annotate(
            open=Count("pk"),
            caught_up=Count("pk", filter=Q(caught_up=True)),
            read=Count("last_read_at"),
            oldest_read=Min("last_read_at"),
        )
    )
    return {r["source_id"]: lag.Shards(r["open"], r["caught_up"], r["read"], r["oldest_read"]) for r in rows}


def worker_quiet(now: datetime) -> bool:
    """No worker has run the supervisor's tick for the stall bound: nothing is being read."""
    seen = Heartbeat.last_seen("worker")
    return seen is not None and (now - seen).total_seconds() >= timing.STALL_SECONDS


def behind(source: Source, shards: lag.Shards, now: datetime, worker_down: bool = False) -> float | None:
    """The page's lag, but also while paused (then it grows: nothing is read), and None before live sync."""
    if source.state != Source.State.PROCESSING_STREAM:
        return None
    stalled = bool(source.stalled) or worker_down
    return lag.behind_seconds(shards, source.stream_last_record_at, now, stalled=stalled)


@dataclass(frozen=True)
class Thresholds:
    behind_seconds: int = LagAlert.DEFAULT_BEHIND_SECONDS
    unread_seconds: int = LagAlert.DEFAULT_UNREAD_SECONDS


def reason(source: Source, shards: lag.Shards, thresholds: Thresholds, now: datetime, worker_down: bool) -> str:
    """Why the collection is too far behind, in words; "" when it is within its thresholds."""
    seconds = behind(source, shards, now, worker_down)
    # The replay that follows an initial load starts minutes behind by nature (an export takes five): it has
    # its own progress on the page, and its stalls their own state; the alert watches a collection once live.
    replaying = source.collection.status == Collection.Status.CREATED
    if seconds is not None and seconds >= thresholds.behind_seconds and not replaying:
        why = " (paused)" if source.suspended_at else ""
        return (
            f"{timing.duration(seconds)} behind its table{why}; the alert is set at "
            f"{timing.duration(thresholds.behind_seconds)}."
        )
    last_read = source.stream_last_processed_at
    has_changes = shards.caught_up < shards.open  # the last reads found more to read
    if last_read and has_changes and not source.suspended_at:
        unread = (now - last_read).total_seconds()
        if unread >= thresholds.unread_seconds:
            return f"No successful read of its stream for {timing.duration(unread)}, while the stream has changes."
    return ""


def trouble_began(source: Source, shards: lag.Shards, now: datetime, worker_down: bool) -> datetime:
    """When the collection fell behind (its lag counted back from now) or last read its stream. The alert
    dates from then, not from the tick that noticed it a threshold later, so that the page, the history
    and the recovery email say how long the collection really was behind."""
    seconds = behind(source, shards, now, worker_down)
    if seconds:
        return now - timedelta(seconds=seconds)
    return source.stream_last_processed_at or now


def check_all() -> None:
    """Raise or clear each live-syncing collection's alert; a few queries whatever the number of them."""
    now = clock.now()
    following = Source.objects.filter(state=Source.State.PROCESSING_STREAM).exclude(
        collection__status=Collection.Status.DELETED
    )
    sources = list(following.select_related("collection__workspace"))
    ids = following.values("pk")  # a subquery: no list of ids, however many collections
    shards = shard_figures(ids)
    alerts = {a.source_id: a for a in LagAlert.objects.filter(source_id__in=ids)}
    worker_down = worker_quiet(now)
    figures = []
    for source in sources:
        alert = alerts.get(source.pk)
        thresholds = Thresholds(alert.behind_seconds, alert.unread_seconds) if alert else Thresholds()
        source_shards = shards.get(source.pk, lag.Shards())
        figures.append((source.pk, behind(source, source_shards, now, worker_down), source.stream_records_applied))
        why = reason(source, source_shards, thresholds, now, worker_down)
        if why and not (alert and alert.raised_at):
            raise_alert(source, why, trouble_began(source, source_shards, now, worker_down))
        elif why:
            LagAlert.objects.filter(pk=alert.pk).update(reason=why)
        elif alert and alert.raised_at:
            clear_alert(source, alert, now)
    samples.take(figures, now)  # the page's charts: the same figures, one a minute


def raise_alert(source: Source, why: str, since: datetime) -> None:
    alert, _ = LagAlert.objects.get_or_create(source=source)
    if LagAlert.objects.filter(pk=alert.pk, raised_at__isnull=True).update(raised_at=since, reason=why):
        log.warning("%s: lag alert: %s", source.collection, why, extra=logs.about(source))
        events.record(source.pk, events.Kind.LAG_ALERT, why)
        notify.lag_alert(source.pk, why)


def clear_alert(source: Source, alert: LagAlert, now: datetime) -> None:
    if LagAlert.objects.filter(pk=alert.pk, raised_at=alert.raised_at).update(
        raised_at=None, reason="", recovered_at=now
    ):
        lasted = timing.duration((now - alert.raised_at).total_seconds())
        log.info("%s: lag alert cleared after %s", source.collection, lasted, extra=logs.about(source))
        events.record(source.pk, events.Kind.LAG_RECOVERED, f"behind for {lasted}")
        notify.lag_recovered(source.pk, lasted)


def thresholds_set(source_id: int, *, behind_seconds: int, unread_seconds: int) -> None:
    """A collection's own thresholds; the next tick judges the collection by them (and clears a raised alert
    that they no longer call for, with its email)."""
    LagAlert.objects.update_or_create(
        source_id=source_id, defaults={"behind_seconds": behind_seconds, "unread_seconds": unread_seconds}
    )
