"""Celery tasks of the ingest engine: ids in, a call into the engine, the next run queued. None of them
sleeps waiting for AWS: a unit that has to wait is queued again for when it is due."""

from __future__ import annotations

from celery import shared_task

from ingest import export, initial_load, scan, stream, supervisor
from ingest.models import ExportFile, ScanSegment, Shard

WAITING = {"idle", "backoff"}


@shared_task
def start_initial_load(source_id: int) -> None:
    initial_load.start(source_id)


@shared_task
def scan_segment(segment_id: int) -> None:
    outcome = scan.run_segment(segment_id)
    if outcome == "more":
        supervisor.dispatch(ScanSegment, segment_id)
    elif outcome in WAITING:
        supervisor.dispatch_when_due(ScanSegment, segment_id)


@shared_task
def poll_export(source_id: int) -> None:
    export.poll(source_id)


@shared_task
def load_export_file(file_id: int) -> None:
    if export.load_file(file_id) in WAITING:  # S3 asked us to slow down
        supervisor.dispatch_when_due(ExportFile, file_id)


@shared_task
def discover_shards(source_id: int) -> None:
    supervisor.discover_shards_paced(source_id)


@shared_task
def poll_quiet_shards(shard_pks: list[int]) -> None:
    for pk in stream.poll_quiet(shard_pks):  # these have records to read, or trouble to report
        supervisor.dispatch(Shard, pk)


@shared_task
def read_shard(shard_pk: int) -> None:
    outcome = stream.read_shard(shard_pk)
    if outcome == "more":
        supervisor.dispatch(Shard, shard_pk)
    elif outcome == "idle":
        supervisor.after_idle_poll(shard_pk)
    elif outcome in WAITING:
        supervisor.dispatch_when_due(Shard, shard_pk)
    elif outcome == "finished":  # its children may be readable now: discover them without waiting
        source_id = Shard.objects.filter(pk=shard_pk).values_list("source_id", flat=True).first()
        if source_id:
            supervisor.discover_shards_paced(source_id)
