"""Races that only PostgreSQL shows (READ COMMITTED, row locks), with two threads on two connections:
a shard's commit in flight while a re-sync starts, and the engine's one lock order."""

from __future__ import annotations

import random
import threading

import pytest
from django.db import connection, connections

from collections_app.models import Collection, Document, Source
from collections_app.services import source_pause, source_resume, source_resync
from ingest import stream, writer
from ingest.models import Shard
from tests.ingest.engine import assert_equal_to_table, follow, item, load, loaded

pytestmark = pytest.mark.django_db(transaction=True)


def needs_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers, so these races can't happen there: they run on PostgreSQL")


def another_backend_waits_on_a_lock(polls: int = 2000) -> bool:
    """Poll (a bounded number of times) until some other connection waits on a row lock."""
    with connections["default"].cursor() as cursor:
        for _ in range(polls):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return True
    return False


def in_thread(target, *args) -> threading.Thread:
    def run() -> None:
        try:
            target(*args)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def pause_and_resume(source_pk: int, times: int, failures: list[BaseException]) -> None:
    """A user pausing and resuming over and over while writers commit; what went wrong is for the test."""
    try:
        for _ in range(times):
            source_pause(source=Source.objects.get(pk=source_pk))
            source_resume(source=Source.objects.get(pk=source_pk))
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        failures.append(exc)


def test_a_commit_in_flight_when_a_resync_starts_puts_nothing_into_the_new_load(people, integration, aws, monkeypatch):
    needs_postgresql()
    source = loaded(people, integration, aws)
    for n in range(300, 320):
        aws.dynamodb.put_item(TableName="t", Item=item(n, random.Random(n)))
    shard = Shard.objects.get(source=source)
    real_apply, applying, resync_waiting = writer.apply, threading.Event(), threading.Event()
    outcome: list[str] = []

    def apply_slowly(collection_id, changes):
        if changes and not applying.is_set():
            applying.set()
            resync_waiting.wait(timeout=60)  # the re-sync has begun, and waits for a lock we hold
        return real_apply(collection_id, changes)

    monkeypatch.setattr("ingest.writer.apply", apply_slowly)
    reader = in_thread(lambda: outcome.append(stream.read_shard(shard.pk)))
    assert applying.wait(timeout=60)
    resyncer = in_thread(lambda: source_resync(source=Source.objects.get(pk=source.pk)))
    assert another_backend_waits_on_a_lock()  # the re-sync waits for the commit's source lock
    resync_waiting.set()
    reader.join(timeout=120)
    resyncer.join(timeout=120)
    assert not reader.is_alive() and not resyncer.is_alive()
    # Whichever committed first, the new load starts from nothing: no document, no count from the old read.
    collection = Collection.objects.get(pk=source.collection_id)
    assert Document.objects.filter(collection=collection).count() == 0 and collection.doc_count == 0
    assert collection.total_size_bytes == 0 and collection.status == Collection.Status.CREATED
    monkeypatch.setattr("ingest.writer.apply", real_apply)
    load(source)
    follow(source)
    assert_equal_to_table(source, aws.dynamodb)  # counters included


def test_pausing_while_shards_commit_never_deadlocks(people, integration, aws):
    """The pause takes the source's lock first, as the shard's commit does: whichever waits, none deadlocks."""
    needs_postgresql()
    source = loaded(people, integration, aws)
    errors: list[BaseException] = []

    def read_many() -> None:
        try:
            for n in range(400, 430):
                aws.dynamodb.put_item(TableName="t", Item=item(n, random.Random(n)))
                for shard in Shard.objects.filter(source=source, done=False):
                    stream.read_shard(shard.pk)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [in_thread(read_many), in_thread(pause_and_resume, source.pk, 30, errors)]
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    follow(source)
    assert_equal_to_table(source, aws.dynamodb)
