"""The supervisor tick (Celery beat): hand out work no one holds, follow exports, discover shards, start
stalled loads.

Every unit of work is a row; a task for it may be lost (a killed worker, a lost broker message) and
the tick queues a new one once the row's lease has lapsed. Tasks that find the work held exit.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from collections_app.models import Source
from ingest import export, leases, resync, stream
from ingest.models import ExportFile, ScanSegment, Shard
from integrations import aws

log = logging.getLogger(__name__)

START_GRACE = timedelta(seconds=60)
ACTIVE = Q(error="") & Q(suspended_at__isnull=True)


def tick() -> None:
    from ingest import tasks

    for source in Source.objects.filter(ACTIVE, state=Source.State.INITIALIZING, load_started_at__isnull=True):
        if timezone.now() - source.created_at > START_GRACE:  # its start task was lost
            tasks.start_initial_load.delay(source.pk)

    for model in (ScanSegment, ExportFile):
        work = model.objects.filter(leases.needing_dispatch(model), source__error="", source__suspended_at__isnull=True)
        for pk in list(work.values_list("pk", flat=True)):
            dispatch(model, pk)

    now = timezone.now()
    for pk in list(Source.objects.filter(ACTIVE, export.due_for_poll(now)).values_list("pk", flat=True)):
        Source.objects.filter(pk=pk).update(export_checked_at=now)  # the next tick doesn't queue it again
        tasks.poll_export.delay(pk)

    for source in Source.objects.filter(ACTIVE, state=Source.State.PROCESSING_STREAM).select_related(
        "integration__organisation"
    ):
        if stream.should_discover(source):
            try:
                replaced = stream.stream_replaced(source)
                if replaced:
                    resync.changes_missed(source.pk, replaced)
                    continue
                stream.discover(source)
            except Exception as exc:  # noqa: BLE001 - a failed discovery is retried next tick
                log.warning("shard discovery for %s failed: %s", source, aws.as_aws_error(exc))
        dispatch_shards(source)

    retry_failed_sources()


def dispatch(model: type[ScanSegment | ExportFile | Shard], pk: int) -> None:
    """Queue the task for one unit of work and note when, so the tick doesn't queue another meanwhile."""
    from ingest import tasks

    task = {ScanSegment: tasks.scan_segment, ExportFile: tasks.load_export_file, Shard: tasks.read_shard}[model]
    model.objects.filter(pk=pk).update(dispatched_at=timezone.now())
    task.delay(pk)


def dispatch_shards(source: Source) -> None:
    ready = Shard.objects.filter(stream.readable_shards(source), leases.needing_dispatch(Shard))
    for pk in list(ready.values_list("pk", flat=True)):
        dispatch(Shard, pk)


def retry_failed_sources() -> None:
    """Retry a stopped source after a backoff, from its checkpoints; after ten clean minutes the count of
    automatic retries starts again (so the next new error is emailed)."""
    from collections_app.services import source_retry

    now = timezone.now()
    for source in Source.objects.exclude(error="").filter(suspended_at__isnull=True):
        if source.next_retry_at and now >= source.next_retry_at:
            log.info("retrying %s automatically (%d): %s", source, source.auto_retries + 1, source.error)
            source_retry(source=source, automatic=True)
    Source.objects.filter(error="", auto_retries__gt=0, error_at__lt=now - timedelta(minutes=10)).update(
        auto_retries=0, error_at=None
    )
