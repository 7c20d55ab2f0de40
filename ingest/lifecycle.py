"""A source's lifecycle: its states, the locks that keep transitions and writers apart.

Lock order, everywhere in the engine and the services: the source's row first, then the unit of work
(segment, file, shard), then the collection's counters, then the source's counters.

The source's row is the re-sync fence, taken in two modes. Every commit of documents (`lock_source`)
takes it FOR KEY SHARE: a source's own writers (its shards, files or segments) hold it side by side and
never wait for each other there. Everything that changes what the writers may do (pause, resume, retry,
re-sync, a failure, a change of limits, delete) takes it FOR UPDATE, which conflicts with FOR KEY SHARE:
it waits for the commits in flight, and the next commit waits for it and then sees it. So a commit that
began before a re-sync either lands before the re-sync's deletes, or finds the source re-synced (or its
unit gone) and writes nothing.

A commit then updates the contended rows (the collection's doc_count and size, the source's figures) as
its last statements, after its documents: two updates of one row wait for each other until commit, so
that is all the source's writers wait for. An UPDATE takes FOR NO KEY UPDATE, which FOR KEY SHARE doesn't
conflict with, so a writer updating the row it holds the fence on neither waits for the other writers'
fences nor deadlocks with a pause waiting for them (PostgreSQL lets a holder of the row's lock update it
without queueing behind a waiter). SQLite has one writer at a time, and no row locks to take.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F

from collections_app.models import Collection, Document, Source
from ingest import clock, events, metrics, notify, tasks
from ingest.models import ExportFile, ScanSegment, Shard

log = logging.getLogger(__name__)

# The source's states and the moves between them. Any state may go back to INITIALIZING (a re-sync);
# being stopped with an error, or paused, is not a state but a flag beside it (error, suspended_at).
TRANSITIONS: dict[str, set[str]] = {
    Source.State.INITIALIZING: {Source.State.SCANNING, Source.State.EXPORTING_TO_S3},
    Source.State.EXPORTING_TO_S3: {Source.State.DOWNLOADING_FROM_S3},
    Source.State.SCANNING: {Source.State.PROCESSING_STREAM},
    Source.State.DOWNLOADING_FROM_S3: {Source.State.PROCESSING_STREAM},
    Source.State.PROCESSING_STREAM: set(),
}


class TransitionError(Exception):
    """A move the lifecycle doesn't allow: a bug, never a user's doing."""


class CollectionDeleted(Exception):
    """Resume or re-sync asked of a DELETED collection: it stays deleted (and is purged shortly)."""


def _refuse_deleted(source: Source) -> None:
    if Collection.objects.filter(pk=source.collection_id, status=Collection.Status.DELETED).exists():
        raise CollectionDeleted(f"Collection {source.collection_id} is deleted; it can't be resumed or re-synced.")


def enter(source: Source, state: str, **fields: object) -> None:
    """Move the source to `state` (with the fields that go with it), if the lifecycle allows it."""
    if state not in TRANSITIONS[source.state]:
        raise TransitionError(f"{source} can't go from {source.state} to {state}")
    source.set_state(state, **fields)
    if state in (Source.State.SCANNING, Source.State.EXPORTING_TO_S3):
        events.record(source.pk, events.Kind.LOAD_STARTED, source.get_load_method_display())


def stop(source: Source, message: str) -> None:
    """Stop the source with a message a person can act on, and tell its owner (once per new error). The
    supervisor retries it after a backoff; Retry in the console does at once. The source's lock comes
    first, FOR UPDATE: the commits in flight land before the error, the next one sees it."""
    with transaction.atomic():
        Source.objects.select_for_update().filter(pk=source.pk).values_list("pk", flat=True).first()
        source.fail(message)
    metrics.SOURCE_ERRORS.inc()
    events.record(source.pk, events.Kind.ERROR, message)
    notify.source_failed(source.pk)


def lock_source(source_id: int, *states: str) -> bool:
    """The fence for a commit of documents (first of all, inside the caller's transaction), FOR KEY SHARE
    on PostgreSQL: the source's other writers go on side by side, a pause or re-sync waits for this commit
    (see the module's docstring). True when the source is still in one of `states` and neither paused nor
    stopped with an error."""
    if connection.vendor == "postgresql":
        sql = f"SELECT state, error, suspended_at FROM {Source._meta.db_table} WHERE id = %s FOR KEY SHARE"
        with connection.cursor() as cursor:
            cursor.execute(sql, [source_id])
            row = cursor.fetchone()
    else:  # one writer at a time: the transaction (IMMEDIATE) is the lock
        row = Source.objects.filter(pk=source_id).values_list("state", "error", "suspended_at").first()
    if row is None:
        return False
    state, error, suspended_at = row
    return state in states and not error and not suspended_at


# DynamoDB Streams keeps a record 24 hours: a pause or a load longer than this may have lost changes.
STREAM_RETENTION = timedelta(hours=24)


def _release_work(source_id: int) -> None:
    """Leases go and queued-task marks are forgotten, so the supervisor hands the work out afresh."""
    for model in (ScanSegment, ExportFile, Shard):
        model.objects.filter(source_id=source_id).update(
            leased_by="", lease_expires_at=None, dispatched_at=None, not_before=None
        )


@transaction.atomic
def pause(source_id: int) -> None:
    """Stop reading; checkpoints stay, leases go, so resume continues where this left off."""
    source = Source.objects.select_for_update().get(pk=source_id)
    if source.suspended_at:
        return
    Source.objects.filter(pk=source_id).update(suspended_at=clock.now(), stalled="", stalled_since=None)
    Collection.objects.filter(pk=source.collection_id).update(status=Collection.Status.PAUSED)
    _release_work(source_id)
    events.record(source_id, events.Kind.PAUSED)


@transaction.atomic
def resume(source_id: int) -> bool:
    """Continue from the checkpoints. Returns False when the pause outlasted the stream's 24 hours, so
    some changes may be gone (the reader then reports it and the collection re-syncs)."""
    source = Source.objects.select_for_update().get(pk=source_id)
    _refuse_deleted(source)
    if not source.suspended_at:
        return True
    within_retention = clock.now() - source.suspended_at < STREAM_RETENTION
    # The work starts again now: a unit's quiet time (liveness) counts from here, not from before the pause.
    Source.objects.filter(pk=source_id).update(
        suspended_at=None, state_changed_at=clock.now(), stalled="", stalled_since=None
    )
    status = Collection.Status.READY if source.initial_load_done else Collection.Status.CREATED
    Collection.objects.filter(pk=source.collection_id).update(status=status)
    _release_work(source_id)
    events.record(source_id, events.Kind.RESUMED)
    return within_retention


@transaction.atomic
def retry(source_id: int, *, automatic: bool = False) -> None:
    """Clear the error; the supervisor hands the work out again from the last checkpoints. An automatic
    retry keeps the error's time (its backoff grows from it) and counts itself; a person's starts afresh."""
    Source.objects.select_for_update().filter(pk=source_id).values_list("pk", flat=True).get()
    fresh = {"stalled": "", "stalled_since": None, "poll_error": "", "poll_failing_since": None}
    if automatic:
        Source.objects.filter(pk=source_id).update(error="", auto_retries=F("auto_retries") + 1, **fresh)
        metrics.AUTOMATIC_RETRIES.inc()
    else:
        Source.objects.filter(pk=source_id).update(error="", error_at=None, auto_retries=0, **fresh)
    _release_work(source_id)
    events.record(source_id, events.Kind.RETRIED, "automatically" if automatic else "")


@transaction.atomic
def change_limits(source_id: int, *, rcu: int | None = None, poll_frequency_ms: int | None = None) -> None:
    """A new read-capacity budget (a Scan running now spends at most this from each segment's next time
    slice, within `timing.SCAN_SLICE`) or stream poll frequency (from each shard's next poll). Under the source's
    lock, so it never lands between a re-sync's reset and its new load."""
    source = Source.objects.select_for_update().get(pk=source_id)
    _refuse_deleted(source)
    fields: dict[str, int] = {}
    if rcu is not None and source.load_method == Source.LoadMethod.SCAN:
        fields["rcu"] = rcu
    if poll_frequency_ms is not None:
        fields["poll_frequency_ms"] = poll_frequency_ms
    changed = {name: value for name, value in fields.items() if getattr(source, name) != value}
    if changed:
        Source.objects.filter(pk=source_id).update(**changed)
        said = {"rcu": f"read capacity {source.rcu} → {rcu} RCU/s"}
        said["poll_frequency_ms"] = f"poll frequency {source.poll_frequency_ms} → {poll_frequency_ms} ms"
        events.record(source_id, events.Kind.CHANGED, "; ".join(said[name] for name in changed))


@transaction.atomic
def resync(
    source_id: int, reason: str = "asked for: a fresh initial load, then the stream", *, rcu: int | None = None
) -> None:
    """Start again: forget documents, checkpoints and progress, then a fresh initial load and the stream
    from a new start position. The source's lock comes first (the fence: see the module's docstring).
    `rcu` is the new load's budget, for a Table Scan."""
    source = Source.objects.select_for_update().get(pk=source_id)
    _refuse_deleted(source)
    if rcu is not None and source.load_method == Source.LoadMethod.SCAN:
        Source.objects.filter(pk=source_id).update(rcu=rcu)
    source.scan_segments.all().delete()
    source.shards.all().delete()
    source.capacity_spends.all().delete()
    source.export_files.all().delete()
    Document.objects.filter(collection_id=source.collection_id).delete()
    Collection.objects.filter(pk=source.collection_id).update(
        doc_count=0, total_size_bytes=0, last_updated_at=None, status=Collection.Status.CREATED
    )
    Source.objects.filter(pk=source_id).update(
        state=Source.State.INITIALIZING,
        state_changed_at=clock.now(),
        error="",
        error_at=None,
        suspended_at=None,
        load_started_at=None,
        load_finished_at=None,
        items_expected=0,
        items_loaded=0,
        rcu_consumed=0,
        load_done_notified_at=None,
        stream_arn="",
        stream_start_at=None,
        stream_last_processed_at=None,
        stream_last_record_at=None,
        shards_discovered_at=None,
        stream_records_applied=0,
        user_deletes=0,
        ttl_deletes=0,
        export_client_token="",
        export_arn="",
        export_checked_at=None,
        notice="",
        notice_at=None,
        stalled="",
        stalled_since=None,
        poll_error="",
        poll_failing_since=None,
    )
    transaction.on_commit(lambda: tasks.start_initial_load.delay(source_id))
    metrics.RESYNCS.inc()
    events.record(source_id, events.Kind.RESYNC, reason)


def changes_missed(source_id: int, reason: str) -> None:
    """Changes were missed (the stream trimmed them, or the load outlasted the stream's 24 hours): say so
    on the collection's page, tell its owner, and start over rather than carry on with a silent gap."""
    log.warning("source %s missed changes, re-syncing: %s", source_id, reason)
    with transaction.atomic():
        resync(source_id, reason)
        Source.objects.filter(pk=source_id).update(notice=reason, notice_at=clock.now())
        transaction.on_commit(lambda: notify.changes_missed(source_id))


@transaction.atomic
def delete(collection_id: int) -> None:
    """Mark the collection DELETED and stop its work at once (as a pause does: the engine skips suspended
    sources and leases go). Its rows stay until `collections_purge_deleted` removes them, so a worker
    finishing a page never writes into a collection that vanished under it."""
    for source_id in Source.objects.filter(collection_id=collection_id).order_by("pk").values_list("pk", flat=True):
        # FOR UPDATE, not just the UPDATE's lock: the commits in flight land first, the next one sees it.
        Source.objects.select_for_update().filter(pk=source_id).values_list("pk", flat=True).first()
        Source.objects.filter(pk=source_id, suspended_at__isnull=True).update(suspended_at=clock.now())
        _release_work(source_id)
    Collection.objects.filter(pk=collection_id).update(status=Collection.Status.DELETED)


# Replay needs every change since the recorded start position; the stream keeps 24 hours. Stop an hour
# short of that: shards are read after the hand-over, not at it.
SAFE_REPLAY = STREAM_RETENTION - timedelta(hours=1)


def load_finished(source_id: int) -> None:
    """The initial load is done: follow the stream from the position recorded before the load. Runs inside
    the transaction that committed the last page or file; the email goes after commit. That commit holds
    the fence FOR KEY SHARE and has updated the source's figures (FOR NO KEY UPDATE, so a second finisher
    waits for it): the same lock here, not FOR UPDATE, which would wait for a stale writer of a unit that
    waits for this one's unit (a deadlock)."""
    source = Source.objects.select_for_update(no_key=True).get(pk=source_id)
    if source.load_finished_at:
        return
    source.load_finished_at = clock.now()
    source.save(update_fields=["load_finished_at"])
    if source.stream_start_at and source.load_finished_at - source.stream_start_at > SAFE_REPLAY:
        taken = source.load_finished_at - source.load_started_at
        changes_missed(
            source.pk,
            f"The initial load took {taken.total_seconds() / 3600:.1f} hours, and DynamoDB Streams keeps changes "
            "for only 24 hours, so the changes made at its start were no longer there to replay. Millrace "
            "started the initial load again. If loads take this long, run more Millrace workers, and for "
            "Table Scan give it more read capacity.",
        )
        return
    enter(source, Source.State.PROCESSING_STREAM)
    documents = Collection.objects.filter(pk=source.collection_id).values_list("doc_count", flat=True).first()
    events.record(source_id, events.Kind.LOAD_FINISHED, f"{documents or 0:,} documents in {source.load_duration}")
    transaction.on_commit(lambda: tasks.discover_shards.delay(source_id))  # live sync starts now, not at a tick
    transaction.on_commit(lambda: notify.load_done(source_id))
