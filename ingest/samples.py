"""One sample a minute of each live-syncing collection's lag and applied records, for its page's charts.

Taken by the supervisor's tick from the figures the lag alerts use (ingest/alerts.py): the first tick of
a minute writes it, the others find it there (one INSERT … ON CONFLICT DO NOTHING a tick). Kept a day.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ingest import clock
from ingest.models import SourceSample

KEPT = timedelta(hours=25)


def take(figures: list[tuple[int, float | None, int]], now: datetime) -> None:
    """`figures`: (source id, seconds behind or None, stream_records_applied) for each source."""
    minute = now.replace(second=0, microsecond=0)
    rows = [SourceSample(source_id=pk, minute=minute, behind_seconds=behind, records_applied=records)
            for pk, behind, records in figures]  # fmt: skip
    SourceSample.objects.bulk_create(rows, ignore_conflicts=True)


def purge_expired() -> int:
    deleted, _ = SourceSample.objects.filter(minute__lt=clock.now() - KEPT).delete()
    return deleted


def last_day(source_id: int, now: datetime) -> list[SourceSample]:
    return list(SourceSample.objects.filter(source_id=source_id, minute__gte=now - timedelta(hours=24)))
