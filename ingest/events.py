"""A collection's history: one row per thing a person would want to know happened, written where it
happens in the engine (lifecycle, alerts), shown newest first on the collection's page."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from ingest import clock
from ingest.models import SourceEvent

Kind = SourceEvent.Kind
SHOWN = 20  # on the collection's page


def record(source_id: int, kind: str, message: str = "") -> None:
    SourceEvent.objects.create(source_id=source_id, at=clock.now(), kind=kind, message=message[:2000])


def recent(source_id: int, limit: int = SHOWN) -> list[SourceEvent]:
    return list(SourceEvent.objects.filter(source_id=source_id)[:limit])


def purge_expired() -> int:
    """Events past the retention go (beat, every minute); returns how many."""
    cutoff = clock.now() - timedelta(days=settings.MILLRACE_EVENT_RETENTION_DAYS)
    deleted, _ = SourceEvent.objects.filter(at__lt=cutoff).delete()
    return deleted
