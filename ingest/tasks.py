"""Celery tasks of the ingest engine: ids in, a call into the engine, the next slice queued."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from collections_app.models import Source
from ingest import export, initial_load, scan, stream, supervisor
from ingest.models import ExportFile, ScanSegment, Shard


@shared_task
def start_initial_load(source_id: int) -> None:
    initial_load.start(source_id)


@shared_task
def scan_segment(segment_id: int) -> None:
    if scan.run_segment(segment_id) == "more":
        supervisor.dispatch(ScanSegment, segment_id)


@shared_task
def poll_export(source_id: int) -> None:
    export.poll(source_id)


@shared_task
def load_export_file(file_id: int) -> None:
    if export.load_file(file_id) == "more":  # S3 asked us to slow down: let the supervisor queue it again
        ExportFile.objects.filter(pk=file_id).update(dispatched_at=timezone.now())


@shared_task
def read_shard(shard_pk: int) -> None:
    outcome = stream.read_shard(shard_pk)
    if outcome == "more":
        supervisor.dispatch(Shard, shard_pk)
    elif outcome == "finished":  # its children may be readable now: don't wait for the next tick
        source = Source.objects.select_related("integration__organisation").get(shards__pk=shard_pk)
        stream.discover(source)
        supervisor.dispatch_shards(source)
