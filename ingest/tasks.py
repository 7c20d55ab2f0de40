"""Celery tasks of the ingest engine: ids in, a call into the engine, the next slice queued."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from collections_app.models import Source
from ingest import initial_load, scan, stream, supervisor
from ingest.models import Shard


@shared_task
def start_initial_load(source_id: int) -> None:
    initial_load.start(source_id)


@shared_task
def scan_segment(segment_id: int) -> None:
    if scan.run_segment(segment_id) == "more":
        supervisor.dispatch_segment(segment_id)


@shared_task
def read_shard(shard_pk: int) -> None:
    outcome = stream.read_shard(shard_pk)
    if outcome == "more":
        Shard.objects.filter(pk=shard_pk).update(dispatched_at=timezone.now())
        read_shard.delay(shard_pk)
    elif outcome == "finished":  # its children may be readable now: don't wait for the next tick
        source = Source.objects.select_related("integration__organisation").get(shards__pk=shard_pk)
        stream.discover(source)
        supervisor.dispatch_shards(source)
