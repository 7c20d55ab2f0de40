"""Shard rollover with the moto extension that closes a shard every N records (console/sandbox/moto_shards)."""

from __future__ import annotations

import random

import pytest

from console.sandbox import moto_shards
from ingest.models import Shard
from tests.ingest.engine import assert_equal_to_table, create_source, follow, item, load, make_table


@pytest.fixture
def rollover_every_7(aws):
    undo = moto_shards.install(records_per_shard=7)
    yield
    undo()


def watch_children_before_parents(faults, source) -> list[str]:
    """Shards whose reading began before their parent had been read to its end (should stay empty)."""
    violations: list[str] = []

    def check(params):
        shard = Shard.objects.get(source=source, shard_id=params["ShardId"])
        if shard.parent_shard_id and not Shard.objects.get(source=source, shard_id=shard.parent_shard_id).done:
            violations.append(shard.shard_id)
        return False

    faults.add("dynamodbstreams", "GetShardIterator", "Unused", when=check)
    return violations


def test_the_extension_behaves_like_a_rolled_over_stream(aws, rollover_every_7):
    make_table(aws.dynamodb, "t", 20)
    streams = aws.session.client("dynamodbstreams")
    arn = aws.dynamodb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    page = streams.describe_stream(StreamArn=arn, Limit=2)["StreamDescription"]
    assert [s["ShardId"] for s in page["Shards"]] == [moto_shards._shard_id(0), moto_shards._shard_id(1)]
    assert page["LastEvaluatedShardId"] == moto_shards._shard_id(1)
    rest = streams.describe_stream(StreamArn=arn, ExclusiveStartShardId=page["LastEvaluatedShardId"])
    shards = page["Shards"] + rest["StreamDescription"]["Shards"]
    assert len(shards) == 3 and "EndingSequenceNumber" not in shards[2]["SequenceNumberRange"]
    assert shards[2]["ParentShardId"] == shards[1]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shards[0]["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    first = streams.get_records(ShardIterator=iterator)
    assert len(first["Records"]) == 7 and first.get("NextShardIterator") is None


def test_parents_are_read_before_children_and_no_record_is_lost_at_a_shards_end(
    people, integration, aws, rollover_every_7, faults
):
    make_table(aws.dynamodb, "t", 30)
    source = create_source(people.acme, people.alice, integration, "t", rcu=10)
    violations = watch_children_before_parents(faults, source)
    load(source)
    rng = random.Random(9)
    for n in range(300, 340):
        aws.dynamodb.put_item(TableName="t", Item=item(n, rng))
    aws.dynamodb.delete_item(TableName="t", Key={"pk": {"S": "item-00005"}})
    follow(source, rounds=12)
    assert not violations
    shards = Shard.objects.filter(source=source)
    assert shards.count() == 71 // 7 + 1
    assert shards.filter(done=True).count() == shards.count() - 1
    assert sum(shards.values_list("records_applied", flat=True)) == 71
    assert_equal_to_table(source, aws.dynamodb)


@pytest.fixture
def split_every_9(aws):
    undo = moto_shards.install(records_per_shard=9, split=True)
    yield
    undo()


def test_a_shard_split_into_two_children_reads_the_parent_first_and_loses_nothing(
    people, integration, aws, split_every_9, faults
):
    make_table(aws.dynamodb, "t", 12)
    source = create_source(people.acme, people.alice, integration, "t", rcu=10)
    violations = watch_children_before_parents(faults, source)
    load(source)
    rng = random.Random(11)
    for n in range(300, 330):
        aws.dynamodb.put_item(TableName="t", Item=item(n, rng))
    for n in (1, 4, 305):
        aws.dynamodb.delete_item(TableName="t", Key={"pk": {"S": f"item-{n:05d}"}})
    follow(source, rounds=10)
    assert not violations
    shards = Shard.objects.filter(source=source)
    first = moto_shards._shard_id(0)
    children = shards.filter(parent_shard_id=first)
    assert sorted(children.values_list("shard_id", flat=True)) == [moto_shards._shard_id(1, "left"),
                                                                    moto_shards._shard_id(1, "right")]  # fmt: skip
    assert sum(shards.values_list("records_applied", flat=True)) == 12 + 30 + 3  # every record exactly once
    assert_equal_to_table(source, aws.dynamodb)
