"""Live sync from DynamoDB Streams: shard discovery and lineage, reading, applying, checkpoints.

Each shard is a row with a lease, read by one worker at a time for a time slice. Records are applied
per item in stream order; the shard's checkpoint (the last applied sequence number) is committed in
the same transaction as the documents it covers. A child shard is read only once its parent has
been read to its end.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q

from collections_app.models import Collection, Source
from ingest import clock, convert, errors, leases, lifecycle, timing, writer
from ingest.models import Shard
from integrations import aws

log = logging.getLogger(__name__)

IDLE_CEILING_SECONDS = 5.0  # an idle shard is polled at most every 5 s: ≤ 720 GetRecords an hour
DESCRIBE_STREAM_PER_SECOND = 5.0  # half of DynamoDB Streams' 10 DescribeStream calls a second per account
GET_RECORDS_LIMIT = 1000
DYNAMODB_SERVICE = "dynamodb.amazonaws.com"


def discover(source: Source) -> int:
    """Record shards we don't know yet (DescribeStream, 100 a page). A shard we hadn't read to its end that
    the stream no longer lists was trimmed: changes were missed. Raises AwsError when AWS refuses or
    throttles: the supervisor records that on the source (shown, and stopped if it lasts)."""
    if not Source.objects.filter(pk=source.pk, state=Source.State.PROCESSING_STREAM).exists():
        return 0  # re-synced since the caller looked: the new load's hand-over discovers afresh
    client = errors.engine_client(source, "dynamodbstreams")
    known = dict(Shard.objects.filter(source=source).values_list("shard_id", "done"))
    listed: set[str] = set()
    new: list[Shard] = []
    endings: dict[str, str] = {}
    start: str | None = None
    while True:
        request: dict[str, Any] = {"StreamArn": source.stream_arn, "Limit": 100}
        if start:
            request["ExclusiveStartShardId"] = start
        try:
            description = client.describe_stream(**request)["StreamDescription"]
        except Exception as exc:  # noqa: BLE001 - becomes an AwsError the supervisor shows
            raise errors.as_error(exc, f"the stream of table {source.table_name}") from exc
        for shard in description["Shards"]:
            listed.add(shard["ShardId"])
            ending = shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber", "")
            if shard["ShardId"] in known:
                if ending:
                    endings[shard["ShardId"]] = ending
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
    gone = sorted(shard_id for shard_id, done in known.items() if not done and shard_id not in listed)
    if gone:
        lifecycle.changes_missed(
            source.pk,
            f"Stream shard {gone[0]} was trimmed before Millrace had read it to its end (DynamoDB keeps stream "
            "records 24 hours), so some changes were missed. Millrace started a fresh initial load, and follows "
            "the stream from there.",
        )
        return 0
    with transaction.atomic():
        if not lifecycle.lock_source(source.pk, Source.State.PROCESSING_STREAM):
            return 0  # re-synced while we listed: these shards belong to the old stream
        for shard_id, ending in endings.items():
            Shard.objects.filter(source=source, shard_id=shard_id, ending_sequence_number="").update(
                ending_sequence_number=ending
            )
        Shard.objects.bulk_create(new, ignore_conflicts=True)
        Source.objects.filter(pk=source.pk).update(
            shards_discovered_at=clock.now(), poll_error="", poll_failing_since=None
        )
    return len(new)


def stream_replaced(source: Source) -> str:
    """Why the stream we follow is no longer the table's (turned off and on, or the table re-created),
    or "" when it still is. Records written in between are in neither stream."""
    try:
        table = errors.engine_client(source, "dynamodb").describe_table(TableName=source.table_name)["Table"]
    except Exception as exc:  # noqa: BLE001 - becomes an AwsError the supervisor shows
        raise errors.as_error(exc, f"table {source.table_name}") from exc
    latest = table.get("LatestStreamArn", "")
    enabled = (table.get("StreamSpecification") or {}).get("StreamEnabled", False)
    if enabled and latest == source.stream_arn:
        return ""
    what = "was turned off" if not enabled else "was turned off and on again, or the table re-created"
    return (
        f"The stream of table {source.table_name} {what}: it now has stream {latest or 'none'} instead of the one "
        "Millrace followed, and changes made in between were in neither. Millrace started a fresh initial load."
    )


# A shard is readable once its parent is read to its end (or unknown to us: trimmed away or never seen).
PARENT_FINISHED = ~Q(
    Exists(Shard.objects.filter(source=OuterRef("source"), shard_id=OuterRef("parent_shard_id"), done=False))
)


def readable_shards(source: Source) -> Q:
    return Q(source=source) & PARENT_FINISHED


def _record_time(record: dict[str, Any]) -> datetime:
    created = record["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        return created if created.tzinfo else created.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(created), tz=UTC) if created else clock.now()


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


def read_shard(shard_pk: int, *, owner: str | None = None, slice_seconds: float = timing.STREAM_SLICE) -> str:
    """Read one shard while records keep coming, for at most a time slice. Returns finished | more (read
    again now) | idle (nothing new: poll again at the shard's `not_before`) | backoff (AWS asked us to
    slow down: try again at `not_before`) | held | lost | stopped | failed. Never sleeps waiting for AWS:
    the caller schedules the next poll."""
    owner = owner or leases.new_owner()
    shard = Shard.objects.select_related("source__integration__organisation", "source__collection").filter(pk=shard_pk)
    shard = shard.first()
    if shard is None:
        return "lost"  # re-synced meanwhile: the new load has shards of its own
    if shard.done:
        return "finished"
    with leases.held(Shard, shard_pk, owner) as hold:
        if hold is None:
            return "held"
        return _read(shard, hold, clock.monotonic() + slice_seconds)


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


def _following(source: Source) -> bool:
    status = Source.objects.filter(pk=source.pk).values("suspended_at", "error", "state").first()
    return bool(
        status
        and not status["suspended_at"]
        and not status["error"]
        and status["state"] == Source.State.PROCESSING_STREAM
    )


def _read(shard: Shard, hold: leases.Hold, deadline: float) -> str:
    source = shard.source
    where = f"the stream of table {source.table_name} in {source.region}"
    try:
        with hold.waiting("sts:AssumeRole"):
            client = errors.engine_client(source, "dynamodbstreams")
    except aws.AwsError as error:
        _fail(source, shard, error, action="sts:AssumeRole")
        return "failed"
    iterator: str | None = shard.iterator or None  # valid 15 minutes; renewed from the checkpoint if expired
    while clock.monotonic() < deadline:
        if not _following(source):
            return "stopped"  # paused, failed, or re-syncing (a re-sync reads the stream after its load)
        action = "dynamodb:GetShardIterator"
        try:
            if iterator is None:
                with hold.waiting(action):
                    iterator = _iterator(client, shard)
            action = "dynamodb:GetRecords"
            with hold.waiting(action):
                response = client.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
        except Exception as exc:  # noqa: BLE001 - sorted below: renew, back off, or stop with a message
            error = errors.as_error(exc, where)
            if error.code == "ExpiredIteratorException":
                iterator = None  # renewed from the checkpoint on the next turn
                continue
            if errors.should_retry(error):
                leases.back_off(Shard, shard.pk, shard.retries, error, action)
                return "backoff"
            _fail(source, shard, error, action=action)
            return "failed"
        records = response.get("Records", [])
        iterator = response.get("NextShardIterator")
        try:
            committed = _commit(shard, hold.owner, records, finished=iterator is None, next_iterator=iterator)
        except errors.BadData as problem:
            lifecycle.stop(source, f"A record of shard {shard.shard_id} of {where} could not be applied: {problem}")
            return "failed"
        if not committed:
            return "lost"
        if iterator is None:
            return "finished"
        if not records:
            return "idle"  # caught up: the next poll is scheduled at the shard's not_before
    return "more"


def _commit(
    shard: Shard, owner: str, records: list[dict[str, Any]], *, finished: bool, next_iterator: str | None = None
) -> bool:
    """The records, the checkpoint and the source's figures in one transaction. Locks in the engine's one
    order: the source, then the unit of work, then the collection (writer.apply)."""
    source = shard.source
    try:
        changes, user_deletes, ttl_deletes = to_changes(source, records)
    except (KeyError, TypeError, ValueError) as exc:
        raise errors.BadData(f"{type(exc).__name__}: {exc}") from exc
    now = clock.now()
    with transaction.atomic():
        if not lifecycle.lock_source(source.pk, Source.State.PROCESSING_STREAM):
            return False  # paused, failed or re-synced since the read began
        if not leases.holds(Shard, shard.pk, owner):
            return False
        if not Shard.objects.filter(pk=shard.pk, checkpoint=shard.checkpoint).exists():
            return False  # another worker moved the checkpoint on while our lease had lapsed
        writer.apply(source.collection_id, changes)
        idle_polls = 0 if records else shard.idle_polls + 1
        caught_up = not records and not finished
        update: dict[str, Any] = {
            "last_read_at": now,
            "progress_at": now,
            "idle_polls": idle_polls,
            "caught_up": caught_up,
            "retries": 0,
            "problem": "",
            "not_before": now + timedelta(seconds=idle_wait(source, idle_polls)) if caught_up else None,
            "iterator": next_iterator or "",
        }
        if records:
            shard.checkpoint = records[-1]["dynamodb"]["SequenceNumber"]
            update.update(checkpoint=shard.checkpoint, records_applied=F("records_applied") + len(records))
        if finished:
            update["done"] = True
        Shard.objects.filter(pk=shard.pk).update(**update)
        shard.idle_polls = idle_polls
        leases.renew(Shard, shard.pk, owner)
        source_update: dict[str, Any] = {"stream_last_processed_at": now}
        if changes:
            source_update.update(
                stream_last_record_at=max(c.event_time for c in changes),
                stream_records_applied=F("stream_records_applied") + len(changes),
                user_deletes=F("user_deletes") + user_deletes,
                ttl_deletes=F("ttl_deletes") + ttl_deletes,
            )
        Source.objects.filter(pk=source.pk).update(**source_update)
        if caught_up or finished:
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


def _fail(source: Source, shard: Shard, error: aws.AwsError, *, action: str = "dynamodb:GetRecords") -> None:
    if error.code in {"TrimmedDataAccessException", "ResourceNotFoundException"}:
        lifecycle.changes_missed(
            source.pk,
            f"The stream no longer held the changes after shard {shard.shard_id}'s checkpoint (DynamoDB keeps "
            "them 24 hours; the collection was paused or stopped for longer), so some changes were missed. "
            "Millrace started a fresh initial load, and follows the stream from there.",
        )
        return
    lifecycle.stop(
        source,
        errors.explain(
            error,
            action=action,
            resource=f"the stream of table {source.table_name} in {source.region}",
            integration_name=source.integration.name,
        ),
    )


def discovery_interval(streaming_sources: int) -> timedelta:
    """DescribeStream often enough that a new child shard waits seconds, not a minute, and never more
    often, across all sources, than half of the account's limit of 10 calls a second."""
    return timedelta(seconds=max(timing.DISCOVERY_SECONDS, streaming_sources / DESCRIBE_STREAM_PER_SECOND))
