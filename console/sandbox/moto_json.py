"""Make moto answer item-bearing DynamoDB calls at the speed of `json.dumps`, with the same bytes on the wire.

moto 5.2 writes every response through a serializer driven by botocore's service model; for DynamoDB's
AttributeValue (a union of ten members) it looks up every member of every attribute, about 4 ms of CPU an
item: a Scan of 3,000 small items cost 4.4 CPU-seconds, GetRecords pages of 1,000 records likewise. On a
2-CPU machine that, not Millrace, was what the sandbox (`make run`), the end-to-end tests and the crash
drills spent their time on. The results of these calls are already plain DynamoDB JSON (moto's
`dynamo_to_dict`), so `json.dumps` gives the same document: bytes base64-encoded, datetimes as epoch
seconds to the millisecond, as the JSON protocol has them. tests/console/test_moto_json.py checks that a
client sees exactly the same responses with and without it. Only the fake AWS changes; Millrace's calls
are the same. Used by the sandbox and the moto servers of the tests; install() patches this process.
"""

from __future__ import annotations

import base64
import calendar
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from unittest import mock

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.dynamodb.responses import DynamoResult
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return calendar.timegm(value.timetuple()) + (value.microsecond // 1000) / 1000.0
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _without_none(value: Any) -> Any:
    """The serializer leaves out members whose value is None; so must we."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


class FastJsonResult(ActionResult):
    def execute_result(self, context: Any) -> Any:
        status, headers, _ = ActionResult({}).execute_result(context)  # the operation's status and headers
        return status, headers, json.dumps(_without_none(self.result), default=_plain, separators=(",", ":"))


def install() -> Callable[[], None]:
    original_get_records = DynamoDBStreamsHandler.get_records

    def get_records(self: DynamoDBStreamsHandler) -> ActionResult:
        if self._get_param("ShardIterator") not in self.backend.shard_iterators:
            # An iterator this sandbox never handed out (one kept from before `make run` restarted it): AWS
            # answers ExpiredIteratorException for an iterator it no longer knows; moto, a KeyError and an
            # HTTP 500 with a traceback in the terminal.
            raise JsonRESTError("ExpiredIteratorException", "Iterator expired: the sandbox doesn't know it")
        return FastJsonResult(original_get_records(self).result)

    patches = [
        mock.patch.object(DynamoResult, "execute_result", FastJsonResult.execute_result),
        mock.patch.object(DynamoDBStreamsHandler, "get_records", get_records),
    ]
    for patch in patches:
        patch.start()

    def undo() -> None:
        for patch in reversed(patches):
            patch.stop()

    return undo
