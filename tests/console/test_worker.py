"""A real Celery worker runs the supervisor tick, on Redis and on the embedded broker (SQLite in var/)."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from celery import Celery

from console import broker
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
    # Not the current app: shared tasks resolve through the current app of each thread, and a test-only app
    # left current here would take `ingest.tasks.*` (and what later tests patch on them) away from the
    # console's app in this thread only (tests/api/test_client.py then saw no queued loads).
    producer = Celery("test-producer", broker=broker_url, set_as_current=False)
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
    """The default broker: a task sent as the web process sends one (another process, the same var/ file)."""
    url = broker.embedded_url(settings.VAR_DIR)
    assert url == broker.embedded_url(Path(os.path.relpath(settings.VAR_DIR)))  # any working directory
    with celery_worker(url) as worker:
        send_tick(url, broker.transport_options())
        heartbeat = wait_for_heartbeat()
        worker.terminate()
        output = worker.communicate(timeout=20)[0]
    assert heartbeat is not None, output
    assert "Unrecoverable error" not in output


def test_the_default_broker_is_the_embedded_one_and_urls_choose_redis_or_rabbitmq(tmp_path, settings):
    if not os.environ.get("CELERY_BROKER_URL"):
        assert broker.embedded_url(settings.VAR_DIR) == settings.CELERY_BROKER_URL
        assert broker.transport_options() == settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert broker.sqlite_path(broker.embedded_url(tmp_path)) == tmp_path.resolve() / "broker.sqlite3"
    assert broker.sqlite_path("redis://127.0.0.1:6379/0") is None
    assert broker.sqlite_path("amqp://guest@localhost//") is None


def test_messages_a_worker_took_are_forgotten(tmp_path):
    url = broker.embedded_url(tmp_path)
    assert broker.forget_delivered(url) == 0  # no file yet
    with sqlite3.connect(broker.sqlite_path(url)) as connection:
        connection.execute("CREATE TABLE kombu_message (id INTEGER PRIMARY KEY, visible BOOLEAN, payload TEXT)")
        connection.executemany("INSERT INTO kombu_message (visible, payload) VALUES (?, '{}')", [(0,), (1,), (0,)])
    assert broker.forget_delivered(url) == 2
    with sqlite3.connect(broker.sqlite_path(url)) as connection:
        assert connection.execute("SELECT visible FROM kombu_message").fetchall() == [(1,)]
