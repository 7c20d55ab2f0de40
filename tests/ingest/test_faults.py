"""What real DynamoDB does on a bad day and moto never does, injected at botocore's API-call layer
(tests/aws_faults.py): the engine backs off, renews, re-syncs or stops with words a person can act on."""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from collections_app.models import Collection, Source
from collections_app.services import source_resync
from ingest import stream, supervisor
from ingest.models import Shard
from tests.ingest.engine import assert_equal_to_table, follow, item, load, loaded, make_table


def first_calls(n: int):
    calls = {"n": 0}

    def when(params) -> bool:
        calls["n"] += 1
        return calls["n"] <= n

    return when


def write_some(aws, start: int, count: int = 15) -> None:
    rng = random.Random(start)
    for n in range(start, start + count):
        aws.dynamodb.put_item(TableName="t", Item=item(n, rng))
    aws.dynamodb.delete_item(TableName="t", Key={"pk": {"S": "item-00002"}})


def test_throttled_getrecords_backs_off_and_loses_nothing(people, integration, aws, faults):
    source = loaded(people, integration, aws)
    throttled = faults.add("dynamodbstreams", "GetRecords", "ProvisionedThroughputExceededException",
                           when=first_calls(2))  # fmt: skip
    write_some(aws, 500)
    follow(source)
    source.refresh_from_db()
    assert throttled.hits == 2 and not source.error
    assert_equal_to_table(source, aws.dynamodb)


def test_throttled_describestream_backs_off_and_loses_nothing(people, integration, aws, faults):
    source = loaded(people, integration, aws)
    throttled = faults.add("dynamodbstreams", "DescribeStream", "ThrottlingException", when=first_calls(2))
    write_some(aws, 600)
    follow(source)
    assert throttled.hits == 2
    assert_equal_to_table(source, aws.dynamodb)


def test_a_recreated_table_has_a_new_stream_so_the_collection_says_so_and_resyncs(
    people, integration, aws, django_capture_on_commit_callbacks, mailoutbox
):
    source = loaded(people, integration, aws)
    old_arn = source.stream_arn
    aws.dynamodb.delete_table(TableName="t")
    make_table(aws.dynamodb, "t", 25, seed=7)  # changes between the two streams are in neither
    Source.objects.filter(pk=source.pk).update(shards_discovered_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        supervisor.tick()  # queues the discovery, which a worker runs:
        supervisor.discover_shards(source.pk)
    source.refresh_from_db()
    assert (
        source.state == Source.State.INITIALIZING
        and "turned off and on again, or the table re-created" in source.notice
    )
    assert "missed changes" in mailoutbox[-1].subject
    load(source)
    follow(source)
    source.refresh_from_db()
    assert source.stream_arn != old_arn
    assert_equal_to_table(source, aws.dynamodb)


def test_a_shard_trimmed_before_it_was_read_to_its_end_resyncs(people, integration, aws):
    source = loaded(people, integration, aws)
    Shard.objects.create(source=source, stream_arn=source.stream_arn, shard_id="shardId-00000000000000000000-gone")
    stream.discover(source)
    source.refresh_from_db()
    assert (
        source.state == Source.State.INITIALIZING and "shardId-00000000000000000000-gone was trimmed" in source.notice
    )
    load(source)
    follow(source)
    assert_equal_to_table(source, aws.dynamodb)


def test_access_denied_mid_flight_stops_emails_once_and_retries_by_itself_with_backoff(
    people, integration, aws, faults, mailoutbox
):
    source = loaded(people, integration, aws)
    denied = faults.access_denied("dynamodbstreams", "GetRecords", "dynamodb:GetRecords")
    write_some(aws, 700)
    follow(source, rounds=1)
    source.refresh_from_db()
    assert "Allow dynamodb:GetRecords on the stream of table t" in source.error
    assert [m.subject for m in mailoutbox] == ["Millrace: commons.c stopped with an error"]
    assert source.next_retry_at == source.error_at + timedelta(minutes=1)

    supervisor.tick()  # too early: the first retry waits a minute
    assert Source.objects.get(pk=source.pk).error
    Source.objects.filter(pk=source.pk).update(error_at=timezone.now() - timedelta(seconds=61))
    supervisor.tick()
    source.refresh_from_db()
    assert not source.error and source.auto_retries == 1
    follow(source, rounds=1)  # still refused: stops again, quietly, and waits longer
    source.refresh_from_db()
    assert source.error and source.next_retry_at == source.error_at + timedelta(minutes=2)
    assert len(mailoutbox) == 1

    faults.faults.remove(denied)  # the permission is granted
    Source.objects.filter(pk=source.pk).update(error_at=timezone.now() - timedelta(minutes=2))
    supervisor.tick()
    follow(source)
    source.refresh_from_db()
    assert not source.error
    assert_equal_to_table(source, aws.dynamodb)  # continued from the checkpoint: nothing lost
    Source.objects.filter(pk=source.pk).update(error_at=timezone.now() - timedelta(minutes=11))
    supervisor.tick()
    assert Source.objects.get(pk=source.pk).auto_retries == 0  # ten clean minutes: the next error is news


def test_a_tick_that_began_before_a_resync_puts_nothing_into_the_new_load(people, integration, aws):
    """Found by the crash drills: a supervisor tick that loaded the source before a re-sync discovered
    and read shards during the new scan, and marked the collection READY before the scan had finished."""
    source = loaded(people, integration, aws)
    as_the_tick_saw_it = Source.objects.select_related("integration__organisation").get(pk=source.pk)
    source_resync(source=Source.objects.get(pk=source.pk))
    assert stream.discover(as_the_tick_saw_it) == 0 and not Shard.objects.filter(source=source).exists()
    shard = Shard.objects.create(source=source, stream_arn=as_the_tick_saw_it.stream_arn,
                                 shard_id=moto_shards_first_shard(aws, as_the_tick_saw_it.stream_arn))  # fmt: skip
    assert stream.read_shard(shard.pk, slice_seconds=2) == "stopped"
    collection = Collection.objects.get(pk=source.collection_id)
    assert collection.status == Collection.Status.CREATED and collection.doc_count == 0
    load(source)
    follow(source)
    assert Collection.objects.get(pk=source.collection_id).status == Collection.Status.READY
    assert_equal_to_table(source, aws.dynamodb)


def moto_shards_first_shard(aws, stream_arn: str) -> str:
    streams = aws.session.client("dynamodbstreams")
    return streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
