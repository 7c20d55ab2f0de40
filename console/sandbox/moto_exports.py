"""Make moto's table exports look like DynamoDB's, so the export reader is tested on the real layout.

moto writes one data file with no manifests, nests the table ARN in a malformed ExportArn, needs an
S3Prefix, finishes at once and ignores ClientToken. This extension writes what AWS writes
(../shared/research/limits.md §4):

    <prefix>/AWSDynamoDB/<ExportId>/_started
    <prefix>/AWSDynamoDB/<ExportId>/data/<random>.json.gz   (several, N items each)
    <prefix>/AWSDynamoDB/<ExportId>/manifest-files.json     (JSON lines: itemCount, md5Checksum, etag, dataFileS3Key)
    <prefix>/AWSDynamoDB/<ExportId>/manifest-summary.json   (exportArn, itemCount, manifestFilesS3Key, …)
    + a .checksum beside each manifest

with an ARN of the form table/<name>/export/<ms>-<hex>, an optional prefix, ClientToken idempotency,
ExportManifest / StartTime / EndTime / ExportTime in DescribeExport, and IN_PROGRESS for a while before
COMPLETED. The snapshot is still "now" (moto keeps no history, so ExportTime can't be honoured).
Used by the sandbox (`make run`) and the tests; install() patches moto in this process.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import secrets
import time
from base64 import b64encode
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from moto.core.responses import ActionResult
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.table_export import TableExport
from moto.dynamodb.models.utilities import dynamo_json_dump
from moto.dynamodb.responses import DynamoHandler


def _md5(data: bytes) -> tuple[str, str]:
    """(md5Checksum, etag) as AWS writes them: base64 and hex of the object's MD5."""
    digest = hashlib.md5(data, usedforsecurity=False)
    return b64encode(digest.digest()).decode(), digest.hexdigest()


def _random_name() -> str:
    return secrets.token_hex(13)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RealLayoutExport(TableExport):
    """A moto export thread that writes AWS's layout, after a delay that stands for DynamoDB's minutes."""

    items_per_file = 1000
    seconds = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started_at = time.time()
        self.ended_at: float | None = None
        self.export_id = f"{int(self.started_at * 1000):014d}-{secrets.token_hex(4)}"
        self.arn = f"{self.table.table_arn}/export/{self.export_id}"
        self.folder = "/".join(p for p in (self.s3_prefix.strip("/"), "AWSDynamoDB", self.export_id) if p)
        self.client_token = ""

    def _backup_to_s3_file(self, s3_backend: Any) -> None:
        def put(key: str, body: bytes) -> None:
            s3_backend.put_object(bucket_name=self.s3_bucket, key_name=key, value=body)

        put(f"{self.folder}/_started", b"")
        items = list(self.table.all_items())  # the snapshot is taken when the export starts
        time.sleep(self.seconds)
        entries = []
        for start in range(0, max(1, len(items)), self.items_per_file):
            chunk = items[start : start + self.items_per_file]
            lines = "".join(dynamo_json_dump(item.to_json(root_attr_name="Item")) + "\n" for item in chunk)
            body = gzip.compress(lines.encode())
            key = f"{self.folder}/data/{_random_name()}.json.gz"
            put(key, body)
            checksum, etag = _md5(body)
            entries.append({"itemCount": len(chunk), "md5Checksum": checksum, "etag": etag, "dataFileS3Key": key})
            self.item_count += len(chunk)
            self.processed_bytes += len(lines)
        files_key = f"{self.folder}/manifest-files.json"
        files = "".join(json.dumps(entry) + "\n" for entry in entries).encode()
        put(files_key, files)
        put(f"{self.folder}/manifest-files.checksum", _md5(files)[1].encode())
        self.ended_at = time.time()
        summary = json.dumps(
            {
                "version": "2020-06-30",
                "exportArn": self.arn,
                "startTime": _iso(self.started_at),
                "endTime": _iso(self.ended_at),
                "tableArn": self.table.table_arn,
                "tableId": self.table.table_arn.rsplit("/", 1)[-1],
                "exportTime": _iso(self.started_at),
                "s3Bucket": self.s3_bucket,
                "s3Prefix": self.s3_prefix or None,
                "s3SseAlgorithm": "AES256",
                "s3SseKmsKeyId": None,
                "manifestFilesS3Key": files_key,
                "billedSizeBytes": self.processed_bytes,
                "itemCount": self.item_count,
                "outputFormat": "DYNAMODB_JSON",
            }
        ).encode()
        put(f"{self.folder}/manifest-summary.json", summary)
        put(f"{self.folder}/manifest-summary.checksum", _md5(summary)[1].encode())
        self.status = "COMPLETED"

    def response(self) -> dict[str, Any]:
        description = {k: v for k, v in super().response().items() if v is not None}
        description.update(
            StartTime=self.started_at,
            ExportTime=self.started_at,
            ClientToken=self.client_token,
            BilledSizeBytes=self.processed_bytes,
        )
        if not self.s3_prefix:
            description.pop("S3Prefix", None)
        if self.status == "COMPLETED":
            description.update(EndTime=self.ended_at, ExportManifest=f"{self.folder}/manifest-summary.json")
        return description


def install(items_per_file: int = 1000, seconds: float = 0.0) -> Callable[[], None]:
    """Patch moto's exports: `items_per_file` per data file, IN_PROGRESS for `seconds`. Returns an undo."""
    layout = type("Export", (RealLayoutExport,), {"items_per_file": items_per_file, "seconds": seconds})
    by_token: dict[str, str] = {}

    def export_table_to_point_in_time(self: DynamoHandler) -> ActionResult:
        token = self.body.get("ClientToken") or ""
        if token in by_token and by_token[token] in self.dynamodb_backend.table_exports:
            return ActionResult({"ExportDescription": self.dynamodb_backend.table_exports[by_token[token]].response()})
        export = self.dynamodb_backend.export_table(
            s3_bucket=self.body["S3Bucket"],
            s3_prefix=self.body.get("S3Prefix") or "",
            table_arn=self.body["TableArn"],
            export_type=self.body.get("ExportType", "FULL_EXPORT"),
            export_format=self.body.get("ExportFormat", "DYNAMODB_JSON"),
            s3_bucket_owner=self.body.get("S3BucketOwner"),
        )
        if token:
            export.client_token, by_token[token] = token, export.arn
        return ActionResult({"ExportDescription": export.response()})

    patches = [
        mock.patch.object(dynamodb_models, "TableExport", layout),
        mock.patch.object(DynamoHandler, "export_table_to_point_in_time", export_table_to_point_in_time),
    ]
    for patch in patches:
        patch.start()
    return lambda: [patch.stop() for patch in patches]
