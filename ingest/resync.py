"""Changes were missed (the stream trimmed them, or the load outlasted the stream's 24 hours): say so on
the collection's page, tell its owner, and start over rather than carry on with a silent gap."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from collections_app.models import Source

log = logging.getLogger(__name__)


def changes_missed(source_id: int, reason: str) -> None:
    """A fresh initial load by the collection's method and the stream from a new start position."""
    from collections_app.services import source_resync
    from ingest import notify

    log.warning("source %s missed changes, re-syncing: %s", source_id, reason)
    source = Source.objects.select_related("collection").get(pk=source_id)
    with transaction.atomic():
        source_resync(source=source)
        Source.objects.filter(pk=source_id).update(notice=reason, notice_at=timezone.now())
        transaction.on_commit(lambda: notify.changes_missed(source_id))
