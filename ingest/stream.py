"""Live sync from DynamoDB Streams: shard discovery and lineage, reading, applying, checkpoints.

Each shard is a row with a lease, read by one worker at a time for a time slice. Records are applied
per item in stream order; the shard's checkpoint (the last applied sequence number) is committed in
the same transaction as the documents it covers. A child shard is read only once its parent has
been read to its end.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from collections_app.models import Collection, Source
from ingest import convert, errors, leases, notify, resync, writer
from ingest.models import Shard
from integrations import aws

log = logging.getLogger(__name__)

SLICE_SECONDS = 20
IDLE_CEILING_SECONDS = 5.0  # an idle shard is polled at most every 5 s: ≤ 720 GetRecords an hour
DISCOVERY_SECONDS = 10  # DescribeStream often enough that a new child shard waits seconds, not a minute
GET_RECORDS_LIMIT = 1000
DYNAMODB_SERVICE = "dynamodb.amazonaws.com"


def begin(source: Source) -> None:
    """The initial load is done: follow the stream from the position recorded before the load."""
    source.set_state(Source.State.PROCESSING_STREAM)


def _streams_client(source: Source) -> Any:
    return aws.integration_client(source.integration, "dynamodbstreams", source.region)


def discover(source: Source) -> int:
    """Record shards we don't know yet (DescribeStream, 100 a page, ≤ 10 calls a second). A shard we
    hadn't read to its end that the stream no longer lists was trimmed: changes were missed."""
    if not Source.objects.filter(pk=source.pk, state=Source.State.PROCESSING_STREAM).exists():
        return 0  # re-synced since the caller looked: the new load's hand-over discovers afresh
    client = _streams_client(source)
    known = dict(Shard.objects.filter(source=source).values_list("shard_id", "done"))
    listed: set[str] = set()
    new: list[Shard] = []
    start: str | None = None
    while True:
        request: dict[str, Any] = {"StreamArn": source.stream_arn, "Limit": 100}
        if start:
            request["ExclusiveStartShardId"] = start
        description = _describe_stream(client, request)
        for shard in description["Shards"]:
            listed.add(shard["ShardId"])
            ending = shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber", "")
            if shard["ShardId"] in known:
                if ending:
                    Shard.objects.filter(source=source, shard_id=shard["ShardId"], ending_sequence_number="").update(
                        ending_sequence_number=ending
                    )
                continue
            known[shard["ShardId"]] = False
            new.append(
                Shard(
                    source=source,
                    stream_arn=source.stream_arn,
                    shard_id=shard["ShardId"],
                    parent_shard_id=shard.get("ParentShardId", ""),
                    starting_sequence_number=shard.get("SequenceNumberRange", {}).get("StartingSequenceNumber", ""),
                    ending_sequence_number=ending,
                )
            )
        start = description.get("LastEvaluatedShardId")
        if not start:
            break
        time.sleep(0.1)
    gone = sorted(shard_id for shard_id, done in known.items() if not done and shard_id not in listed)
    if gone:
        resync.changes_missed(
            source.pk,
            f"Stream shard {gone[0]} was trimmed before Millrace had read it to its end (DynamoDB keeps stream "
            "records 24 hours), so some changes were missed. Millrace started a fresh initial load, and follows "
            "the stream from there.",
        )
        return 0
    Shard.objects.bulk_create(new, ignore_conflicts=True)
    Source.objects.filter(pk=source.pk).update(shards_discovered_at=timezone.now())
    return len(new)


def _describe_stream(client: Any, request: dict[str, Any]) -> dict[str, Any]:
    """DescribeStream, backing off while throttled (its limit is 10 calls a second per account)."""
    attempt = 0
    while True:
        try:
            return client.describe_stream(**request)["StreamDescription"]
        except Exception as exc:
            attempt += 1
            if not errors.should_retry(aws.as_aws_error(exc)) or attempt > 6:
                raise
            time.sleep(min(5.0, 0.2 * 2**attempt) * random.uniform(0.5, 1.5))


def stream_replaced(source: Source) -> str:
    """Why the stream we follow is no longer the table's (turned off and on, or the table re-created),
    or "" when it still is. Records written in between are in neither stream."""
    table = aws.integration_client(source.integration, "dynamodb", source.region).describe_table(
        TableName=source.table_name
    )["Table"]
    latest = table.get("LatestStreamArn", "")
    enabled = (table.get("StreamSpecification") or {}).get("StreamEnabled", False)
    if enabled and latest == source.stream_arn:
        return ""
    what = "was turned off" if not enabled else "was turned off and on again, or the table re-created"
    return (
        f"The stream of table {source.table_name} {what}: it now has stream {latest or 'none'} instead of the one "
        "Millrace followed, and changes made in between were in neither. Millrace started a fresh initial load."
    )


def readable_shards(source: Source) -> Q:
    """Shards whose parent is finished (or unknown to us: trimmed away or never seen)."""
    unfinished_parents = Shard.objects.filter(source=source, done=False).values_list("shard_id", flat=True)
    return Q(source=source) & ~Q(parent_shard_id__in=list(unfinished_parents))


def _record_time(record: dict[str, Any]) -> datetime:
    created = record["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        return created if created.tzinfo else created.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(created), tz=UTC) if created else timezone.now()


def to_changes(source: Source, records: list[dict[str, Any]]) -> tuple[list[writer.Change], int, int]:
    """Stream records → document changes, skipping those older than the recorded start position.
    Returns the changes and the counts of user and TTL deletes among them."""
    key_names = source.key_names
    changes: list[writer.Change] = []
    user_deletes = ttl_deletes = 0
    for record in records:
        at = _record_time(record)
        if source.stream_start_at and at < source.stream_start_at:
            continue
        data = record["dynamodb"]
        doc_id = convert.document_id(data["Keys"], key_names)
        if record["eventName"] == "REMOVE":
            changes.append(writer.Change(doc_id, None, at))
            identity = record.get("userIdentity") or {}
            if identity.get("type") == "Service" and identity.get("principalId") == DYNAMODB_SERVICE:
                ttl_deletes += 1
            else:
                user_deletes += 1
        else:
            changes.append(writer.Change(doc_id, convert.item_to_json(data["NewImage"]), at))
    return changes, user_deletes, ttl_deletes


def read_shard(shard_pk: int, *, owner: str | None = None, slice_seconds: float = SLICE_SECONDS) -> str:
    """Read one shard for a time slice. Returns finished | more | held | lost | stopped | failed."""
    owner = owner or leases.new_owner()
    shard = Shard.objects.select_related("source__integration__organisation", "source__collection").get(pk=shard_pk)
    if shard.done:
        return "finished"
    if not leases.claim(Shard, shard_pk, owner):
        return "held"
    try:
        return _read(shard, owner, time.monotonic() + slice_seconds)
    finally:
        leases.release(Shard, shard_pk, owner)


def _iterator(client: Any, shard: Shard) -> str:
    request = {"StreamArn": shard.stream_arn, "ShardId": shard.shard_id}
    if shard.checkpoint:
        request.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=shard.checkpoint)
    else:
        request["ShardIteratorType"] = "TRIM_HORIZON"
    return client.get_shard_iterator(**request)["ShardIterator"]


def idle_wait(source: Source, idle_polls: int) -> float:
    """How long a quiet shard waits before its next poll: the collection's poll frequency, doubling with
    each empty answer up to a ceiling, so a quiet table costs few GetRecords calls."""
    if not idle_polls:
        return 0.0
    base = source.poll_frequency_seconds
    return max(base, min(IDLE_CEILING_SECONDS, base * 2 ** min(idle_polls - 1, 6)))


def _read(shard: Shard, owner: str, deadline: float) -> str:
    source = shard.source
    client = _streams_client(source)
    iterator: str | None = None
    throttles = 0
    if shard.idle_polls and shard.last_read_at:  # a quiet shard keeps its pace across time slices
        pause = idle_wait(source, shard.idle_polls) - (timezone.now() - shard.last_read_at).total_seconds()
        time.sleep(max(0.0, min(pause, deadline - time.monotonic())))
    while time.monotonic() < deadline:
        status = Source.objects.filter(pk=source.pk).values("suspended_at", "error", "state").get()
        if status["suspended_at"] or status["error"] or status["state"] != Source.State.PROCESSING_STREAM:
            return "stopped"  # paused, failed, or re-syncing (a re-sync reads the stream after its load)
        try:
            if iterator is None:
                iterator = _iterator(client, shard)
            response = client.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
        except Exception as exc:  # noqa: BLE001 - sorted below: renew, back off, or stop with a message
            error = aws.as_aws_error(exc)
            if error.code == "ExpiredIteratorException":
                iterator = None  # renewed from the checkpoint on the next turn
                time.sleep(0.1)
                continue
            if errors.should_retry(error):
                throttles += 1
                time.sleep(min(20.0, 0.2 * 2**throttles) * random.uniform(0.5, 1.5))
                continue
            _fail(source, shard, error)
            return "failed"
        throttles = 0
        records = response.get("Records", [])
        iterator = response.get("NextShardIterator")
        if not _commit(shard, owner, records, finished=iterator is None):
            return "lost"
        if iterator is None:
            return "finished"
        if records:
            shard.idle_polls = 0
            continue  # more may be waiting: read again at once
        # Caught up: poll at the collection's frequency, backing off while the shard stays quiet.
        shard.idle_polls += 1
        time.sleep(min(idle_wait(source, shard.idle_polls), max(0.0, deadline - time.monotonic())))
    return "more"


def _commit(shard: Shard, owner: str, records: list[dict[str, Any]], *, finished: bool) -> bool:
    source = shard.source
    changes, user_deletes, ttl_deletes = to_changes(source, records)
    now = timezone.now()
    with transaction.atomic():
        if not leases.holds(Shard, shard.pk, owner):
            return False
        writer.apply(source.collection_id, changes)
        update: dict[str, Any] = {"last_read_at": now, "idle_polls": 0 if records else shard.idle_polls + 1}
        if records:
            shard.checkpoint = records[-1]["dynamodb"]["SequenceNumber"]
            update.update(checkpoint=shard.checkpoint, records_applied=F("records_applied") + len(records))
        if finished:
            update["done"] = True
        elif not records:
            update["caught_up"] = True
        Shard.objects.filter(pk=shard.pk).update(**update)
        leases.claim(Shard, shard.pk, owner)
        source_update: dict[str, Any] = {"stream_last_processed_at": now}
        if changes:
            source_update.update(
                stream_last_record_at=max(c.event_time for c in changes),
                stream_records_applied=F("stream_records_applied") + len(changes),
                user_deletes=F("user_deletes") + user_deletes,
                ttl_deletes=F("ttl_deletes") + ttl_deletes,
            )
        Source.objects.filter(pk=source.pk).update(**source_update)
        if not records or finished:
            _mark_ready_if_caught_up(source)
    return True


def _mark_ready_if_caught_up(source: Source) -> None:
    """The collection is READY once the load is done and every unfinished shard has reached the tip.
    The load is checked here, not assumed: a tick that began before a re-sync may still hand out shards."""
    if Shard.objects.filter(source=source, done=False, caught_up=False).exists():
        return
    Collection.objects.filter(
        pk=source.collection_id,
        status=Collection.Status.CREATED,
        sources__state=Source.State.PROCESSING_STREAM,
        sources__load_finished_at__isnull=False,
    ).update(status=Collection.Status.READY)


def _fail(source: Source, shard: Shard, error: aws.AwsError) -> None:
    if error.code in {"TrimmedDataAccessException", "ResourceNotFoundException"}:
        resync.changes_missed(
            source.pk,
            f"The stream no longer held the changes after shard {shard.shard_id}'s checkpoint (DynamoDB keeps "
            "them 24 hours; the collection was paused or stopped for longer), so some changes were missed. "
            "Millrace started a fresh initial load, and follows the stream from there.",
        )
        return
    notify.stop(
        source,
        errors.explain(
            error,
            action="dynamodb:GetRecords",
            resource=f"the stream of table {source.table_name} in {source.region}",
            integration_name=source.integration.name,
        ),
    )


def should_discover(source: Source) -> bool:
    last = source.shards_discovered_at
    return last is None or timezone.now() - last > timedelta(seconds=DISCOVERY_SECONDS)
