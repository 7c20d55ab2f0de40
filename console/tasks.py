"""Celery beat's periodic tasks: the supervisor tick, the purge of deleted collections, the broker's cleanup."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from collections_app.services import collections_purge_expired
from console import broker
from console.models import Heartbeat
from ingest import events, samples, supervisor
from queries import saved


@shared_task
def supervisor_tick() -> None:
    # Beat sends this and a worker runs it, so a fresh row proves both are alive.
    Heartbeat.objects.update_or_create(name="worker", defaults={"seen_at": timezone.now()})
    supervisor.tick()
    saved.switch_ready_aliases()


@shared_task
def purge_deleted_collections() -> None:
    """DELETED collections' documents and rows go for good within minutes, not only when a name is reused."""
    collections_purge_expired(grace=timedelta(seconds=2 * settings.MILLRACE_LEASE_SECONDS))
    events.purge_expired()  # collections' history past MILLRACE_EVENT_RETENTION_DAYS
    samples.purge_expired()  # the charts' samples past a day


@shared_task
def forget_delivered() -> None:
    """The embedded broker keeps taken messages as invisible rows; without this its file only grows."""
    broker.forget_delivered(settings.CELERY_BROKER_URL)
