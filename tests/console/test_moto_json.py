"""The sandbox's fast moto responses (console/sandbox/moto_json.py) are the responses moto gives without it:
a client sees the same items, every type, the same keys, counts, capacity, timestamps and stream records."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws

from console.sandbox import moto_json


def strip(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


ITEM = {
    "pk": {"S": "ünïcode-1"},
    "sk": {"N": "1"},
    "s": {"S": ""},
    "n": {"N": "12345678901234567890.123456789"},
    "b": {"B": b"\x00\x01\xffbinary"},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "-2.5"]},
    "bs": {"BS": [b"x", b"\x00"]},
    "m": {"M": {"nested": {"L": [{"NULL": True}, {"BOOL": False}, {"M": {}}, {"L": []}]}}},
    "t": {"BOOL": True},
}


def calls(dynamodb: Any, streams: Any) -> list[dict[str, Any]]:
    """Every call the engine and the tests make whose answer holds items, and a few that hold none."""
    key = {"pk": {"S": "ünïcode-1"}, "sk": {"N": "1"}}
    table = dynamodb.describe_table(TableName="t")
    shard = streams.describe_stream(StreamArn=table["Table"]["LatestStreamArn"])["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=table["Table"]["LatestStreamArn"], ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)
    assert records.pop("NextShardIterator")  # a new iterator each time
    return [
        strip(table),
        strip(dynamodb.scan(TableName="t", ReturnConsumedCapacity="TOTAL")),
        strip(dynamodb.scan(TableName="t", Limit=2, Segment=0, TotalSegments=2)),
        strip(dynamodb.scan(TableName="t", Select="COUNT")),
        strip(dynamodb.get_item(TableName="t", Key=key)),
        strip(dynamodb.get_item(TableName="t", Key={"pk": {"S": "none"}, "sk": {"N": "0"}})),
        strip(
            dynamodb.query(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": key["pk"]})
        ),
        strip(dynamodb.batch_get_item(RequestItems={"t": {"Keys": [key]}})),
        strip(records),
    ]


def with_table() -> tuple[Any, Any]:
    session = boto3.Session(region_name="us-east-1")
    dynamodb = session.client("dynamodb")
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    dynamodb.put_item(TableName="t", Item=ITEM)
    for n in range(2, 6):
        dynamodb.put_item(
            TableName="t", Item={"pk": {"S": f"p{n}"}, "sk": {"N": str(n)}, "v": {"N": str(Decimal(n) / 3)}}
        )
    dynamodb.update_item(
        TableName="t", Key={"pk": {"S": "p2"}, "sk": {"N": "2"}}, UpdateExpression="SET w = :w",
        ExpressionAttributeValues={":w": {"B": b"\x10"}},
    )  # fmt: skip
    dynamodb.delete_item(TableName="t", Key={"pk": {"S": "p3"}, "sk": {"N": "3"}})
    return dynamodb, session.client("dynamodbstreams")


@pytest.mark.parametrize("returns", ["ALL_OLD", "ALL_NEW"])
def test_a_client_sees_the_same_responses_with_the_fast_json(returns: str) -> None:
    with mock_aws():
        dynamodb, streams = with_table()
        slow = calls(dynamodb, streams)
        undo = moto_json.install()
        try:
            fast = calls(dynamodb, streams)
        finally:
            undo()
        assert slow[1]["Items"] and slow[-1]["Records"]  # the comparison is of real answers
        assert fast == slow
    with mock_aws():  # a write that returns attributes, made once each way on identical tables
        answers = []
        for fast_json in (False, True):
            dynamodb, _ = with_table()
            undo = moto_json.install() if fast_json else (lambda: None)
            try:
                key = {"pk": {"S": "ünïcode-1"}, "sk": {"N": "1"}}
                if returns == "ALL_OLD":
                    answers.append(strip(dynamodb.put_item(TableName="t", Item=ITEM, ReturnValues=returns)))
                else:
                    answers.append(strip(dynamodb.update_item(
                        TableName="t", Key=key, UpdateExpression="SET z = :z", ReturnValues=returns,
                        ExpressionAttributeValues={":z": {"BS": [b"q"]}},
                    )))  # fmt: skip
            finally:
                undo()
            dynamodb.delete_table(TableName="t")
        assert answers[0]["Attributes"]["b"] == {"B": b"\x00\x01\xffbinary"}
        assert answers[1] == answers[0]


def test_an_iterator_the_sandbox_never_handed_out_has_expired_as_on_aws() -> None:
    """After `make run` restarts the sandbox, the engine still holds the old sandbox's iterators: AWS says
    ExpiredIteratorException (the engine then renews it from its checkpoint), not an HTTP 500."""
    from botocore.exceptions import ClientError

    with mock_aws():
        _, streams = with_table()
        undo = moto_json.install()
        try:
            with pytest.raises(ClientError) as raised:
                streams.get_records(ShardIterator="arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x|1|gone")
        finally:
            undo()
    assert raised.value.response["Error"]["Code"] == "ExpiredIteratorException"
