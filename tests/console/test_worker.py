"""A real Celery worker runs the supervisor tick, on Redis and on the embedded filesystem broker."""

from __future__ import annotations

import time

import pytest
from celery import Celery

from console.models import Heartbeat
from tests.processes import celery_worker, redis_url


def wait_for_heartbeat(timeout: float = 60) -> Heartbeat | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        heartbeat = Heartbeat.objects.filter(name="worker").first()
        if heartbeat:
            return heartbeat
        time.sleep(0.3)
    return None


def send_tick(broker_url: str, transport_options: dict | None = None) -> None:
    producer = Celery("test-producer", broker=broker_url)
    if transport_options:
        producer.conf.broker_transport_options = transport_options
    producer.send_task("console.tasks.supervisor_tick")


@pytest.mark.e2e
def test_a_worker_on_redis_runs_the_supervisor_tick(transactional_db):
    broker = redis_url()
    with celery_worker(broker) as worker:
        send_tick(broker)
        heartbeat = wait_for_heartbeat()
        worker.terminate()
        output = worker.communicate(timeout=20)[0]
    assert heartbeat is not None, output
    assert "console.tasks.supervisor_tick" in output


@pytest.mark.e2e
def test_a_worker_on_the_embedded_broker_runs_the_supervisor_tick(transactional_db, settings):
    with celery_worker("filesystem://") as worker:
        send_tick("filesystem://", settings.CELERY_BROKER_TRANSPORT_OPTIONS)
        heartbeat = wait_for_heartbeat()
        worker.terminate()
        output = worker.communicate(timeout=20)[0]
    assert heartbeat is not None, output
