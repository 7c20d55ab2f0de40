"""Celery tasks of the ingest engine: ids in, a call into the engine, nothing else."""

from __future__ import annotations

import logging

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task
def start_initial_load(source_id: int) -> None:
    from ingest import initial_load

    initial_load.start(source_id)
