from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from collections_app.models import Source
from collections_app.services import source_pause
from ingest import initial_load, supervisor
from ingest.models import ExportFile, ScanSegment, Shard
from tests.ingest.engine import create_source, follow, load, make_table


def test_the_tick_hands_out_work_whose_lease_lapsed(people, integration, aws, no_queue):
    make_table(aws.dynamodb, "t", 30)
    source = create_source(people.acme, people.alice, integration, "t", rcu=40)
    initial_load.start(source.pk)
    no_queue.clear()
    supervisor.tick()
    assert no_queue == []  # just queued on creation: nothing to hand out again yet
    segment = ScanSegment.objects.filter(source=source).first()
    long_ago = timezone.now() - timedelta(minutes=5)
    ScanSegment.objects.filter(pk=segment.pk).update(
        leased_by="dead", lease_expires_at=long_ago, dispatched_at=long_ago
    )
    supervisor.tick()
    assert no_queue == [("scan_segment", segment.pk)]


def test_the_tick_discovers_shards_and_queues_readable_ones(people, integration, aws, no_queue):
    make_table(aws.dynamodb, "t", 5)
    source = create_source(people.acme, people.alice, integration, "t", rcu=10)
    load(source)
    no_queue.clear()
    supervisor.tick()
    assert no_queue == [("discover_shards", source.pk)]  # DescribeStream in a task: the tick never waits on AWS
    supervisor.tick()
    assert no_queue == [("discover_shards", source.pk)]  # paced: not again at the next tick
    no_queue.clear()
    supervisor.discover_shards(source.pk)
    shard = Shard.objects.get(source=source)
    assert no_queue == [("read_shard", shard.pk)]


def test_a_lost_start_task_is_queued_again(people, integration, aws, no_queue):
    make_table(aws.dynamodb, "t", 5)
    source = create_source(people.acme, people.alice, integration, "t", rcu=10)
    no_queue.clear()
    supervisor.tick()
    assert no_queue == []
    Source.objects.filter(pk=source.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    supervisor.tick()
    assert no_queue == [("start_initial_load", source.pk)]


def test_paused_or_failed_sources_get_no_work(people, integration, aws, no_queue):
    make_table(aws.dynamodb, "t", 5)
    source = create_source(people.acme, people.alice, integration, "t", rcu=10)
    load(source)
    follow(source)
    Shard.objects.filter(source=source).update(dispatched_at=None)
    Source.objects.filter(pk=source.pk).update(error="AWS refused")
    no_queue.clear()
    supervisor.tick()
    assert no_queue == []


def test_the_tick_follows_exports_and_hands_out_export_files_no_one_holds(people, integration, aws, no_queue):
    make_table(aws.dynamodb, "t", 5)
    source = create_source(people.acme, people.alice, integration, "t", method="export")
    Source.objects.filter(pk=source.pk).update(state=Source.State.EXPORTING_TO_S3, load_started_at=timezone.now())
    no_queue.clear()
    supervisor.tick()
    assert no_queue == [("poll_export", source.pk)]
    supervisor.tick()  # checked a moment ago: not again before the next tick
    assert no_queue == [("poll_export", source.pk)]

    Source.objects.filter(pk=source.pk).update(state=Source.State.DOWNLOADING_FROM_S3)
    held = ExportFile.objects.create(source=source, key="a", item_count=1, md5_checksum="", leased_by="w",
                                     lease_expires_at=timezone.now() + timedelta(seconds=10))  # fmt: skip
    lapsed = ExportFile.objects.create(source=source, key="b", item_count=1, md5_checksum="", leased_by="w",
                                       lease_expires_at=timezone.now() - timedelta(seconds=1))  # fmt: skip
    no_queue.clear()
    supervisor.tick()
    assert no_queue == [("load_export_file", lapsed.pk)]
    assert held.pk not in [pk for _, pk in no_queue]
    source_pause(source=source)
    ExportFile.objects.update(dispatched_at=None)
    no_queue.clear()
    supervisor.tick()
    assert no_queue == []


def test_discoveries_are_paced_below_the_accounts_describestream_limit(people, integration, aws, no_queue, monkeypatch):
    make_table(aws.dynamodb, "t", 5)
    sources = [create_source(people.acme, people.alice, integration, "t", rcu=10, name=f"c{n}") for n in range(3)]
    for source in sources:
        load(source)
    monkeypatch.setattr("ingest.stream.DESCRIBE_STREAM_PER_SECOND", 0.4)  # two a tick of 5 s
    no_queue.clear()
    supervisor.tick()
    assert [name for name, _ in no_queue].count("discover_shards") == 2
    no_queue.clear()
    supervisor.tick()
    assert [pk for name, pk in no_queue if name == "discover_shards"] == [sources[-1].pk]  # the one left waiting


def test_the_tick_and_discovery_have_a_queue_of_their_own_that_workers_take_first():
    from console.celery import app

    route = app.amqp.router.route
    assert route({}, "console.tasks.supervisor_tick")["queue"].name == "supervisor"
    assert route({}, "ingest.tasks.discover_shards")["queue"].name == "supervisor"
    assert route({}, "ingest.tasks.read_shard")["queue"].name == "celery"
    assert list(app.amqp.queues)[0] == "supervisor"


def test_describestream_is_capped_across_workers_even_when_late_tasks_run_together(
    people, integration, aws, faults, no_queue
):
    from ingest import clock, stream, tasks

    make_table(aws.dynamodb, "t", 5)
    sources = [create_source(people.acme, people.alice, integration, "t", rcu=10, name=f"c{n}") for n in range(3)]
    for source in sources:
        load(source)
    calls = faults.spy("dynamodbstreams", "DescribeStream")
    no_queue.clear()
    for source in sources:  # three tasks that came due while the worker was busy, run back to back
        tasks.discover_shards(source.pk)
    assert len(calls) == 1
    assert sorted(pk for name, pk in no_queue if name == "discover_shards") == [s.pk for s in sources[1:]]
    clock.sleep(1 / stream.DESCRIBE_STREAM_PER_SECOND)
    tasks.discover_shards(sources[1].pk)
    assert len(calls) == 2
