"""Initial load by export to S3: point-in-time recovery, the export request, following it from beat,
then every data file loaded by its own task, streamed, checkpointed by line and checked against the
manifest. Reads only AWS's real layout (../shared/research/limits.md §4): manifest-summary.json →
manifest-files.json → each dataFileS3Key.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import queue
import threading
import uuid
from base64 import b64encode
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import IO, Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q

from collections_app.models import Source
from ingest import clock, convert, errors, leases, lifecycle, logs, tasks, writer
from ingest.models import ExportFile
from integrations import aws

log = logging.getLogger(__name__)

# The export holds what was committed up to about a minute either side of its time, and stream times
# are rounded to the second: replay from five minutes before the request, as data-prepper does.
REPLAY_MARGIN = timedelta(minutes=5)
BATCH_LINES = 5000  # per transaction: fewer commits load faster…
BATCH_BYTES = 8 * 1024**2  # …but never more than this much JSON at once: items reach 400 KB each
READ_BYTES = 1024 * 1024

PITR_STEPS = (
    "Turn it on in the DynamoDB console (table → Backups → Point-in-time recovery → Edit), or with "
    "`aws dynamodb update-continuous-backups --table-name {table} --point-in-time-recovery-specification "
    "PointInTimeRecoveryEnabled=true`, then press Retry. Or re-create the collection with Table Scan."
)


def _stop(source: Source, error: aws.AwsError, action: str, resource: str) -> None:
    message = errors.explain(error, action=action, resource=resource, integration_name=source.integration.name)
    log.warning("export load of %s stopped: %s", source, message, extra=logs.about(source))
    lifecycle.stop(source, message)


def start(source: Source, table: dict[str, Any]) -> None:
    """PITR on, the stream position recorded, then the export requested (its first poll included)."""
    if not ensure_pitr(source):
        return
    now = clock.now()
    lifecycle.enter(
        source,
        Source.State.EXPORTING_TO_S3,
        stream_arn=table["LatestStreamArn"],
        stream_start_at=now - REPLAY_MARGIN,
        load_started_at=now,
        items_expected=table.get("ItemCount", 0),
        export_client_token=source.export_client_token or uuid.uuid4().hex,
        error="",
    )
    poll(source.pk)


def ensure_pitr(source: Source) -> bool:
    """True when point-in-time recovery is on, turning it on if the user allowed it."""
    table = f"table {source.table_name} in {source.region}"
    try:
        dynamodb = errors.engine_client(source, "dynamodb")
        backups = dynamodb.describe_continuous_backups(TableName=source.table_name)["ContinuousBackupsDescription"]
    except Exception as exc:  # noqa: BLE001 - shown to the user with what to change
        _stop(source, errors.as_error(exc, table), "dynamodb:DescribeContinuousBackups", table)
        return False
    if backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus") == "ENABLED":
        return True
    steps = PITR_STEPS.format(table=source.table_name)
    if not source.may_enable_pitr:
        lifecycle.stop(source, f"Export needs point-in-time recovery (PITR) on {table}, and it is off. {steps}")
        return False
    try:
        dynamodb.update_continuous_backups(
            TableName=source.table_name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    except Exception as exc:  # noqa: BLE001 - shown to the user with what to change
        error = errors.as_error(exc, table)
        lifecycle.stop(
            source,
            f"Millrace couldn't turn on point-in-time recovery on {table} ({error.code}: {error.message}). "
            f"Allow dynamodb:UpdateContinuousBackups in the policy of integration “{source.integration.name}”, "
            f"or: {steps}",
        )
        return False
    Source.objects.filter(pk=source.pk).update(pitr_enabled_by_millrace=True)
    log.info("turned on PITR for %s", table)
    return True


def poll(source_id: int) -> None:
    """Request the export if that hasn't happened (the ClientToken makes a repeat harmless), otherwise
    follow it with DescribeExport; once COMPLETED, read its manifests and queue its files."""
    source = Source.objects.select_related("integration__organisation", "collection").get(pk=source_id)
    if source.state != Source.State.EXPORTING_TO_S3 or source.error or source.suspended_at:
        return
    table = f"table {source.table_name} in {source.region}"
    try:
        dynamodb = errors.engine_client(source, "dynamodb")
        if not source.export_arn:
            description = _request(dynamodb, source)
            Source.objects.filter(pk=source.pk).update(export_arn=description["ExportArn"])
            source.export_arn = description["ExportArn"]
        else:
            description = dynamodb.describe_export(ExportArn=source.export_arn)["ExportDescription"]
    except Exception as exc:  # noqa: BLE001 - throttling waits for the next tick; the rest is shown
        error = errors.as_error(exc, table)
        if errors.should_retry(error):  # shown as a stall if it lasts, then stopped (ingest.liveness)
            log.info("export of %s: %s, trying again next tick", source, error.code)
            action = "dynamodb:DescribeExport" if source.export_arn else "dynamodb:ExportTableToPointInTime"
            Source.objects.filter(pk=source.pk).update(poll_error=f"{action} failed: {error.code}: {error.message}")
            Source.objects.filter(pk=source.pk, poll_failing_since__isnull=True).update(poll_failing_since=clock.now())
            return
        action = "dynamodb:DescribeExport" if source.export_arn else "dynamodb:ExportTableToPointInTime"
        _stop(source, error, action, table)
        return
    if source.poll_error:
        Source.objects.filter(pk=source.pk).update(poll_error="", poll_failing_since=None)
    status = description["ExportStatus"]
    if status == "FAILED":
        _export_failed(source, description)
    elif status == "COMPLETED":
        _read_manifests(source, description)


def _request(dynamodb: Any, source: Source) -> dict[str, Any]:
    integration = source.integration
    request: dict[str, Any] = {
        "TableArn": source.table_arn,
        "S3Bucket": integration.s3_bucket,
        "ExportFormat": "DYNAMODB_JSON",
        "ClientToken": source.export_client_token,
    }
    if integration.s3_prefix.strip("/"):
        request["S3Prefix"] = integration.s3_prefix.strip("/")
    description = dynamodb.export_table_to_point_in_time(**request)["ExportDescription"]
    log.info("requested export %s of %s", description["ExportArn"], source)
    return description


EXPORT_ADVICE = {
    "S3NoSuchBucket": "Create the bucket, or edit integration “{integration}” to name one that exists.",
    "S3AccessDenied": "Allow DynamoDB to write there: the integration's policy needs s3:PutObject, "
    "s3:AbortMultipartUpload and s3:PutObjectAcl on the bucket (see the integration page).",
}


def _export_failed(source: Source, description: dict[str, Any]) -> None:
    """A failed export is final: the next try needs a new ClientToken, or AWS returns the same failure."""
    code = description.get("FailureCode") or "UNKNOWN"
    advice = EXPORT_ADVICE.get(code, "Fix the cause AWS gives, then press Retry to export again.")
    Source.objects.filter(pk=source.pk).update(export_arn="", export_client_token=uuid.uuid4().hex)
    lifecycle.stop(
        source,
        f"DynamoDB's export of {source.table_name} to s3://{source.integration.s3_bucket} failed: "
        f"{code}: {description.get('FailureMessage') or 'no message'}. "
        + advice.format(integration=source.integration.name)
        + " Then press Retry.",
    )


def _get(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _read_manifests(source: Source, description: dict[str, Any]) -> None:
    bucket = description.get("S3Bucket") or source.integration.s3_bucket
    summary_key = description["ExportManifest"]
    try:
        s3 = errors.engine_client(source, "s3")
        summary = json.loads(_get(s3, bucket, summary_key))
        files_key = summary["manifestFilesS3Key"]
        lines = _get(s3, bucket, files_key).decode().splitlines()
    except Exception as exc:  # noqa: BLE001 - shown to the user with what to change
        _stop(source, errors.as_error(exc, bucket), "s3:GetObject", f"the export's manifests in s3://{bucket}")
        return
    try:
        entries = [json.loads(line) for line in lines if line.strip()]
    except ValueError as exc:
        lifecycle.stop(source, f"The export's manifest-files.json in s3://{bucket} is damaged ({exc}). Press Re-sync.")
        return
    listed = sum(int(e["itemCount"]) for e in entries)
    if listed != int(summary["itemCount"]):
        lifecycle.stop(
            source,
            f"The export's manifests disagree: manifest-summary.json says {summary['itemCount']} items, its "
            f"files add up to {listed}. The export in s3://{bucket}/{summary_key.rsplit('/', 1)[0]} is damaged; "
            "press Re-sync to export the table again.",
        )
        return
    with transaction.atomic():
        # Two polls can both find the export COMPLETED (the start task's and a beat tick's): only the
        # first moves on, or the second would reset the progress the file tasks have begun to count.
        source = Source.objects.select_for_update().get(pk=source.pk)
        if source.state != Source.State.EXPORTING_TO_S3:
            return
        ExportFile.objects.bulk_create(
            [
                ExportFile(
                    source=source,
                    key=e["dataFileS3Key"],
                    item_count=e["itemCount"],
                    md5_checksum=e.get("md5Checksum", ""),
                    dispatched_at=clock.now(),
                )  # fmt: skip
                for e in entries
            ],
            ignore_conflicts=True,
        )
        lifecycle.enter(
            source,
            Source.State.DOWNLOADING_FROM_S3,
            export_folder=summary_key.rsplit("/", 1)[0],
            export_deleted_at=None,
            items_expected=listed,
            items_loaded=0,
        )
        pks = list(ExportFile.objects.filter(source=source, done=False).values_list("pk", flat=True))
        if not pks:  # an empty table exports no data files
            lifecycle.load_finished(source.pk)
        transaction.on_commit(lambda: [tasks.load_export_file.delay(pk) for pk in pks])
    log.info("export of %s: %d items in %d files", source, listed, len(entries))


class _Md5Reader:
    """Passes a stream through, hashing what goes by: the data file's md5 is checked without a copy."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.md5 = raw, hashlib.md5(usedforsecurity=False)

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.md5.update(data)
        return data

    @property
    def checksum(self) -> str:
        return b64encode(self.md5.digest()).decode()


def load_file(file_id: int, *, owner: str | None = None) -> str:
    """Load one data file to its end. Returns done | backoff (try again at the file's `not_before`) | held
    | lost | stopped | failed."""
    owner = owner or leases.new_owner()
    file = ExportFile.objects.select_related("source__integration__organisation", "source__collection").filter(
        pk=file_id
    )
    file = file.first()
    if file is None:
        return "lost"  # re-synced meanwhile
    source = file.source
    if file.done:
        return "done"
    if source.error or source.suspended_at:
        return "stopped"
    where = f"s3://{source.integration.s3_bucket}/{file.key}"
    with leases.held(ExportFile, file_id, owner) as hold:
        if hold is None:
            return "held"
        try:
            with hold.waiting("sts:AssumeRole"):
                s3 = errors.engine_client(source, "s3")
        except aws.AwsError as error:
            _stop(source, error, "sts:AssumeRole", where)
            return "failed"
        try:
            with hold.waiting("s3:GetObject"):
                body = s3.get_object(Bucket=source.integration.s3_bucket, Key=file.key)["Body"]
                return load_stream(file, body, owner)
        except errors.BadData as problem:
            lifecycle.stop(
                source, f"The export's data file {where} can't be loaded: {problem} Press Re-sync to export again."
            )
            return "failed"
        except Exception as exc:  # noqa: BLE001 - shown to the user with what to change
            error = errors.as_error(exc, where)
            if errors.should_retry(error):
                leases.back_off(ExportFile, file_id, file.retries, error, "s3:GetObject")
                return "backoff"
            _stop(source, error, "s3:GetObject", where)
            return "failed"


def load_stream(file: ExportFile, body: IO[bytes], owner: str) -> str:
    """Stream a gzipped JSON-lines file into the collection, a batch (at most BATCH_LINES lines and
    BATCH_BYTES of documents, whatever the items' size) per transaction. On PostgreSQL the file is read
    and converted in a second thread while this one writes the batch before (a pipeline: the database's
    time and Python's overlap); at most PIPELINE_BATCHES batches wait between them. Lines before the
    checkpoint are read (for the checksum) but not applied again."""
    copy_to = file.source.collection_id if connection.vendor == "postgresql" else None
    reading = _read_batches(file, file.source.key_names, body, copy_to=copy_to)
    if connection.vendor != "postgresql":
        return _load(file, owner, reading)
    handoff: queue.Queue[Any] = queue.Queue(maxsize=PIPELINE_BATCHES)
    stop = threading.Event()
    reader = threading.Thread(target=_produce, args=(reading, handoff, stop), name=f"export-{file.pk}", daemon=True)
    reader.start()
    try:
        return _load(file, owner, _consume(handoff))
    finally:
        stop.set()  # a reader waiting on a full queue sees it within its wait, then leaves
        reader.join(timeout=READER_JOIN_SECONDS)


PIPELINE_BATCHES = 2
READER_JOIN_SECONDS = 30


class _End:
    """What the reader found at the file's end: its line count, MD5 and the last (maybe empty) batch."""

    def __init__(self, lines: int, checksum: str, last: Any) -> None:
        self.lines, self.checksum, self.last = lines, checksum, last


def _produce(reading: Iterator[Any], handoff: queue.Queue[Any], stop: threading.Event) -> None:
    """The reader thread: batches into the queue; an error is handed over too, raised by the writer
    after the batches read before it have been committed."""
    try:
        for batch in reading:
            while not stop.is_set():
                try:
                    handoff.put(batch, timeout=0.2)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
    except BaseException as exc:  # noqa: BLE001 - handed to the writer, which raises it
        handoff.put(exc)


def _consume(handoff: queue.Queue[Any]) -> Iterator[Any]:
    while True:
        item = handoff.get()
        if isinstance(item, BaseException):
            raise item
        yield item
        if isinstance(item, _End):
            return


def _load(file: ExportFile, owner: str, batches: Iterator[Any]) -> str:
    for batch in batches:
        if isinstance(batch, _End):
            problem = _mismatch(file, batch.lines, batch.checksum)
            if problem:
                lifecycle.stop(file.source, problem)
                return "failed"
            return _commit(file, owner, batch.last, finished=True)
        outcome = _commit(file, owner, batch)
        if outcome != "more":
            return outcome
    raise AssertionError("the reader ended without the file's end")  # pragma: no cover


def _read_batches(file: ExportFile, key_names: list[str], body: IO[bytes], *, copy_to: int | None) -> Iterator[Any]:
    """Batches of the file's items (COPY text for PostgreSQL, Change lists otherwise), then an _End
    carrying the last batch. A line that isn't an item raises BadData naming its number. Touches no
    database: on PostgreSQL it runs in the reader thread."""
    hashed = _Md5Reader(body)
    skip = file.lines_done
    line_count = 0

    def new_batch() -> Any:
        return writer.CopyRows(clock.now(), copy_to) if copy_to is not None else []

    batch, batch_bytes = new_batch(), 0
    now = clock.now()
    with gzip.GzipFile(fileobj=hashed) as lines:
        for line in lines:
            line_count += 1
            if line_count <= skip or not line.strip():
                continue
            try:
                item = convert.parse_line(line)
                doc_id = convert.document_id(item, key_names)
                document = convert.item_to_json_bytes(item)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise errors.BadData(
                    f"line {line_count} is not a DynamoDB JSON item ({type(exc).__name__}: {exc})."
                ) from exc
            if copy_to is not None and doc_id in batch:  # a key twice: the later line wins, in a batch of its own
                yield batch
                batch, batch_bytes = new_batch(), 0
            if copy_to is not None:
                batch.add(doc_id, document)
            else:
                batch.append(writer.Change(doc_id, document.decode(), now))
            batch_bytes += len(document)
            if len(batch) >= BATCH_LINES or batch_bytes >= BATCH_BYTES:
                yield batch
                batch, batch_bytes, now = new_batch(), 0, clock.now()
        while hashed.read(READ_BYTES):  # anything after the gzip stream still counts for the checksum
            pass
    yield _End(line_count, hashed.checksum, batch)


def _mismatch(file: ExportFile, lines: int, checksum: str) -> str:
    where = f"The export's data file s3://{file.source.integration.s3_bucket}/{file.key}"
    if lines != file.item_count:
        return (
            f"{where} holds {lines} items but manifest-files.json says {file.item_count}. The export is incomplete "
            "or was changed in S3, so the collection would be wrong: press Re-sync to export the table again."
        )
    if file.md5_checksum and checksum != file.md5_checksum:
        return (
            f"{where} doesn't match its MD5 checksum in manifest-files.json (file {checksum}, manifest "
            f"{file.md5_checksum}): it was damaged or changed in S3. Press Re-sync to export the table again."
        )
    return ""


def _commit(file: ExportFile, owner: str, batch: list[writer.Change], *, finished: bool = False) -> str:
    """A batch, its line checkpoint and the progress in one transaction; the last one hands over. Locks
    in the engine's one order (lifecycle), the contended rows last.
    Returns more | done | lost (another worker has the file, or a re-sync began) | stopped."""
    with transaction.atomic():
        staged = writer.stage(batch, file.source.collection_id)
        if not lifecycle.lock_source(file.source_id, Source.State.DOWNLOADING_FROM_S3):
            return "stopped"  # paused, in error, or re-synced
        if not leases.holds(ExportFile, file.pk, owner):
            return "lost"
        if not ExportFile.objects.filter(pk=file.pk, lines_done=file.lines_done).exists():
            return "lost"  # another worker moved the checkpoint on while our lease had lapsed
        ExportFile.objects.filter(pk=file.pk).update(
            lines_done=F("lines_done") + len(batch), done=finished, progress_at=clock.now(), retries=0, problem=""
        )
        leases.renew(ExportFile, file.pk, owner)
        # The rows the source's other files update too come last: they wait for each other only from here.
        # So of two files finishing at once, the second sees the first done (it waited for its commit).
        writer.apply(file.source.collection_id, staged)
        Source.objects.filter(pk=file.source_id).update(items_loaded=F("items_loaded") + len(batch))
        if finished and not ExportFile.objects.filter(source_id=file.source_id, done=False).exists():
            lifecycle.load_finished(file.source_id)
    file.lines_done += len(batch)
    return "done" if finished else "more"


def due_for_poll(now: datetime) -> Q:
    """Sources whose export is due a DescribeExport (or a request that didn't get through): one cheap
    call at every beat tick, and no worker waiting in between."""
    checked_before = now - timedelta(seconds=settings.MILLRACE_TICK_SECONDS * 0.8)
    return Q(state=Source.State.EXPORTING_TO_S3) & (
        Q(export_checked_at__isnull=True) | Q(export_checked_at__lt=checked_before)
    )
