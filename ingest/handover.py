"""The end of the initial load: from loading to following the stream."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from collections_app.models import Source


def initial_load_finished(source_id: int) -> None:
    """Run inside the transaction that committed the last page or file; the email goes after commit."""
    from ingest import notify, stream

    source = Source.objects.select_for_update().get(pk=source_id)
    if source.load_finished_at:
        return
    source.load_finished_at = timezone.now()
    source.save(update_fields=["load_finished_at"])
    stream.begin(source)
    transaction.on_commit(lambda: notify.load_done(source_id))
