"""Make moto's streams roll over like DynamoDB's: a shard closes after N records and a child opens.

moto keeps one shard per stream forever, so nothing in it exercises lineage. This extension cuts
moto's single record list into generations of N records each: with a chain, generation k is one
shard, the parent of generation k+1's; with `split`, the first shard splits into two children (each
key's records go to one of them, by a hash of the key, so per-key order holds) and each child then
rolls over in its own chain. Closed shards have an EndingSequenceNumber, DescribeStream pages, and a
closed shard's end gives a null NextShardIterator. The records themselves are moto's. Used by the
sandbox (`make run`) and the tests; install() patches moto in this process.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from typing import Any
from unittest import mock

from moto.core.responses import ActionResult
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler


def _shard_id(k: int, branch: str = "millrace") -> str:
    return f"shardId-{k:020d}-{branch}"


def _shard_index(shard_id: str) -> int:
    return int(shard_id.split("-")[1])


def _branch(shard_id: str) -> str:
    return shard_id.split("-")[2]


def _branch_of(record: dict[str, Any]) -> str:
    keys = json.dumps(record["dynamodb"]["Keys"], sort_keys=True, default=str)
    return "left" if zlib.crc32(keys.encode()) % 2 == 0 else "right"


def _order(shard_id: str) -> tuple[int, str]:
    return _shard_index(shard_id), _branch(shard_id)


class _VirtualIterator(ShardIterator):
    """An iterator that stops at its virtual shard's last record, and after a split sees only its
    branch's records."""

    def __init__(self, backend: DynamoDBStreamsBackend, shard: Any, position: int, k: int, per_shard: int,
                 branch: str) -> None:  # fmt: skip
        super().__init__(backend, shard, "AT_SEQUENCE_NUMBER", position)
        self.k, self.per_shard, self.branch = k, per_shard, branch

    def get(self, limit: int = 1000) -> dict[str, Any]:
        shard = self.stream_shard
        end = shard.starting_sequence_number + (self.k + 1) * self.per_shard  # first number past this shard
        closed = len(shard.items) >= (self.k + 1) * self.per_shard
        items = shard.get(self.sequence_number, max(0, min(limit, end - self.sequence_number)))
        position = self.sequence_number + len(items)
        if self.branch != "millrace":
            items = [record for record in items if _branch_of(record) == self.branch]
        if closed and position >= end:
            return {"NextShardIterator": None, "Records": items}
        following = _VirtualIterator(self.streams_backend, shard, position, self.k, self.per_shard, self.branch)
        self.streams_backend.shard_iterators[following.arn] = following
        return {"NextShardIterator": following.arn, "Records": items}


def install(records_per_shard: int, split: bool = False) -> Callable[[], None]:
    """Patch moto's streams backend; returns a function that undoes it."""
    per_shard = records_per_shard

    def branches(k: int) -> list[str]:
        return ["left", "right"] if split and k else ["millrace"]

    def parent(k: int, branch: str) -> str:
        return _shard_id(k - 1, branch if k > 1 else "millrace")

    def describe_stream(self: DynamoDBStreamsBackend, arn: str) -> dict[str, Any]:
        description = original_describe(self, arn)
        shard = self._get_table_from_arn(arn).stream_shard
        if shard is None:
            return description
        start = shard.starting_sequence_number
        shards = []
        for k in range(len(shard.items) // per_shard + 1):
            numbers = {"StartingSequenceNumber": str(start + k * per_shard)}
            if len(shard.items) >= (k + 1) * per_shard:
                numbers["EndingSequenceNumber"] = str(start + (k + 1) * per_shard - 1)
            for branch in branches(k):
                entry: dict[str, Any] = {"ShardId": _shard_id(k, branch), "SequenceNumberRange": dict(numbers)}
                if k:
                    entry["ParentShardId"] = parent(k, branch)
                shards.append(entry)
        description["Shards"] = shards
        return description

    def get_shard_iterator(self: DynamoDBStreamsBackend, arn: str, shard_id: str, shard_iterator_type: str,
                           sequence_number: str | None = None) -> ShardIterator:  # fmt: skip
        shard = self._get_table_from_arn(arn).stream_shard
        k = _shard_index(shard_id)
        first = shard.starting_sequence_number + k * per_shard
        position = {
            "TRIM_HORIZON": first,
            "LATEST": min(first + per_shard, shard.starting_sequence_number + len(shard.items)),
            "AT_SEQUENCE_NUMBER": int(sequence_number or first),
            "AFTER_SEQUENCE_NUMBER": int(sequence_number or first) + 1,
        }[shard_iterator_type]
        iterator = _VirtualIterator(self, shard, max(position, first), k, per_shard, _branch(shard_id))
        self.shard_iterators[iterator.arn] = iterator
        return iterator

    def describe_stream_page(self: DynamoDBStreamsHandler) -> ActionResult:
        """DescribeStream with paging, as AWS does it: Limit (at most 100) and ExclusiveStartShardId."""
        stream = self.backend.describe_stream(self._get_param("StreamArn"))
        limit = min(int(self._get_param("Limit") or 100), 100)
        after = self._get_param("ExclusiveStartShardId")
        shards = stream["Shards"]
        if after:
            shards = [s for s in shards if _order(s["ShardId"]) > _order(after)]
        stream["Shards"] = shards[:limit]
        if len(shards) > limit:
            stream["LastEvaluatedShardId"] = shards[limit - 1]["ShardId"]
        return ActionResult({"StreamDescription": stream})

    original_describe = DynamoDBStreamsBackend.describe_stream
    patches = [
        mock.patch.object(DynamoDBStreamsBackend, "describe_stream", describe_stream),
        mock.patch.object(DynamoDBStreamsHandler, "describe_stream", describe_stream_page),
        mock.patch.object(DynamoDBStreamsBackend, "get_shard_iterator", get_shard_iterator),
    ]
    for patch in patches:
        patch.start()
    return lambda: [patch.stop() for patch in patches]
