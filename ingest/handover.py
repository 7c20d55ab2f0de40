"""The end of the initial load: from loading to following the stream."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from collections_app.models import Source
from collections_app.services import STREAM_RETENTION

# Replay needs every change since the recorded start position; the stream keeps 24 hours. Stop an hour
# short of that: shards are read after the hand-over, not at it.
SAFE_REPLAY = STREAM_RETENTION - timedelta(hours=1)


def initial_load_finished(source_id: int) -> None:
    """Run inside the transaction that committed the last page or file; the email goes after commit."""
    from ingest import notify, resync, stream

    source = Source.objects.select_for_update().get(pk=source_id)
    if source.load_finished_at:
        return
    source.load_finished_at = timezone.now()
    source.save(update_fields=["load_finished_at"])
    if source.stream_start_at and source.load_finished_at - source.stream_start_at > SAFE_REPLAY:
        taken = source.load_finished_at - source.load_started_at
        resync.changes_missed(
            source.pk,
            f"The initial load took {taken.total_seconds() / 3600:.1f} hours, and DynamoDB Streams keeps changes "
            "for only 24 hours, so the changes made at its start were no longer there to replay. Millrace "
            "started the initial load again. If loads take this long, run more Millrace workers, and for "
            "Table Scan give it more read capacity.",
        )
        return
    stream.begin(source)
    transaction.on_commit(lambda: notify.load_done(source_id))
