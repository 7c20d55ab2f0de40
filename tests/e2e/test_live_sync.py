"""The whole engine as users run it: a Celery worker with beat on Redis, the database, a moto server."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from collections_app.models import Collection, Source
from ingest.models import ExportFile, Shard
from tests.ingest.engine import assert_equal_to_table, create_source, item, make_table
from tests.processes import celery_worker, kill_worker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout: float = 90, what: str = "") -> None:
    """Polls at least every 0.3 s, and rests twice as long as a look took: comparing a collection with its
    table is a Scan through moto, and a test that compared without rest would take a CPU from the workers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        began = time.monotonic()
        if predicate():
            return
        time.sleep(max(0.3, 2 * (time.monotonic() - began)))
    raise AssertionError(f"timed out waiting for {what}")


def equal_to_table(source: Source, dynamodb) -> bool:
    try:
        assert_equal_to_table(source, dynamodb)
    except AssertionError:
        return False
    return True


def worker_env(moto_server, tmp_path: Path) -> dict[str, str]:
    """The sandbox, emails to files, and the shortest lease and tick `manage.py check` accepts: a killed
    worker's work is taken over in about three seconds rather than the production half minute (the same
    code, sooner; the heartbeat renews every half second)."""
    return {
        "MILLRACE_AWS_ENDPOINT_URL": moto_server.endpoint,
        "EMAIL_URL": f"filemail://{tmp_path / 'mail'}",
        "MILLRACE_LEASE_SECONDS": "2",
        "MILLRACE_TICK_SECONDS": "0.5",
    }


def test_scan_then_stream_with_a_real_worker(people, e2e_integration, moto_server, broker, tmp_path):
    make_table(moto_server.dynamodb, "t", 250)
    source = create_source(people.acme, people.alice, e2e_integration, "t", rcu=40)
    log = tmp_path / "worker.log"
    with celery_worker(broker, beat=True, log=log, **worker_env(moto_server, tmp_path)):
        wait_for(
            lambda: Collection.objects.get(pk=source.collection_id).status == Collection.Status.READY,
            what="the collection to be READY",
        )
        assert equal_to_table(source, moto_server.dynamodb)
        rng = random.Random(4)
        for n in range(1000, 1060):  # crosses a shard boundary (40 records a shard)
            moto_server.dynamodb.put_item(TableName="t", Item=item(n, rng))
        moto_server.dynamodb.delete_item(TableName="t", Key={"pk": {"S": "item-00007"}})
        wait_for(lambda: equal_to_table(source, moto_server.dynamodb), what="the changes to arrive")
    source.refresh_from_db()
    assert source.state == Source.State.PROCESSING_STREAM and source.stream_last_processed_at
    assert Shard.objects.filter(source=source, done=True).exists()
    mails = list((tmp_path / "mail").glob("*.log"))
    assert len(mails) == 1 and "the initial load of commons.c is done" in mails[0].read_text()


def test_a_worker_killed_mid_scan_and_mid_stream_loses_nothing(people, e2e_integration, moto_server, broker, tmp_path):
    make_table(moto_server.dynamodb, "t", 300)
    source = create_source(people.acme, people.alice, e2e_integration, "t", rcu=4)
    env = worker_env(moto_server, tmp_path)
    log = tmp_path / "worker.log"
    with celery_worker(broker, beat=True, log=log, **env) as worker:
        wait_for(lambda: Source.objects.get(pk=source.pk).items_loaded > 40, what="the scan to be under way")
        kill_worker(worker)
    loaded_at_kill = Source.objects.get(pk=source.pk).items_loaded
    assert 0 < loaded_at_kill < 300
    with celery_worker(broker, beat=True, log=log, **env) as worker:
        wait_for(
            lambda: Collection.objects.get(pk=source.collection_id).status == Collection.Status.READY,
            timeout=150,
            what="the resumed load to finish",
        )
        rng = random.Random(8)
        for n in range(2000, 2100):
            moto_server.dynamodb.put_item(TableName="t", Item=item(n, rng))
        wait_for(lambda: Source.objects.get(pk=source.pk).stream_records_applied > 10, what="stream apply")
        kill_worker(worker)
    with celery_worker(broker, beat=True, log=log, **env):
        wait_for(lambda: equal_to_table(source, moto_server.dynamodb), timeout=120, what="the stream to catch up")


@pytest.mark.moto(records_per_shard=1000, items_per_file=100)
def test_export_killed_mid_download_then_streams_with_nothing_lost_or_doubled(
    people, e2e_integration, moto_server, broker, tmp_path
):
    """Export in AWS's layout (30 files of 100 items), a worker SIGKILLed while it downloads, a new one
    finishes: every document once, the item count exact, then live changes and one email."""
    moto_server.s3.create_bucket(Bucket="millrace-exports")
    e2e_integration.s3_bucket = "millrace-exports"
    e2e_integration.save()
    make_table(moto_server.dynamodb, "t", 3000)
    source = create_source(people.acme, people.alice, e2e_integration, "t", method="export", may_enable_pitr=True)
    env = worker_env(moto_server, tmp_path)
    log = tmp_path / "worker.log"
    states = set()

    def downloading_under_way() -> bool:
        current = Source.objects.get(pk=source.pk)
        states.add(current.state)
        assert current.state != Source.State.PROCESSING_STREAM, "the download ended before the kill: make it longer"
        return current.state == Source.State.DOWNLOADING_FROM_S3 and current.items_loaded >= 100

    with celery_worker(broker, beat=True, log=log, **env) as worker:
        wait_for(downloading_under_way, timeout=60, what="the download to be under way")
        kill_worker(worker)
    loaded_at_kill = Source.objects.get(pk=source.pk).items_loaded
    assert 0 < loaded_at_kill < 3000, loaded_at_kill
    assert Source.State.EXPORTING_TO_S3 in states
    with celery_worker(broker, beat=True, log=log, **env):
        wait_for(
            lambda: Collection.objects.get(pk=source.collection_id).status == Collection.Status.READY,
            timeout=120,
            what="the resumed download to finish and the stream to catch up",
        )
        source.refresh_from_db()
        assert source.items_loaded == source.items_expected == 3000  # no file counted twice
        assert ExportFile.objects.filter(source=source, done=True).count() == 30
        assert equal_to_table(source, moto_server.dynamodb)
        rng = random.Random(6)
        for n in range(5000, 5050):
            moto_server.dynamodb.put_item(TableName="t", Item=item(n, rng))
        moto_server.dynamodb.delete_item(TableName="t", Key={"pk": {"S": "item-00011"}})
        wait_for(lambda: equal_to_table(source, moto_server.dynamodb), what="the changes to arrive")
    mails = list((tmp_path / "mail").glob("*.log"))
    assert len(mails) == 1
    text = mails[0].read_text()
    assert "the initial load of commons.c is done" in text and "Delete export files" in text
