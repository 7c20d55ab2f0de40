"""Live sync from DynamoDB Streams: shard discovery and lineage, reading, applying, checkpoints.

Each shard is a row with a lease, read by one worker at a time for a time slice. Records are applied
per item in stream order; the shard's checkpoint (the last applied sequence number) is committed in
the same transaction as the documents it covers. A child shard is read only once its parent has
been read to its end.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q

from collections_app.models import Collection, Source
from ingest import clock, convert, errors, leases, lifecycle, logs, metrics, timing, writer
from ingest.models import Shard
from integrations import aws

log = logging.getLogger(__name__)

IDLE_CEILING_SECONDS = 5.0  # an idle shard is polled at most every 5 s: ≤ 720 GetRecords an hour
# DynamoDB Streams allows 10 DescribeStream calls a second per account. Millrace makes at most half of them
# (a new collection's first listing), and lists streams again at most a fifth of them: that is only a
# safety net, since a shard read to its end has its children listed at once (tasks.read_shard).
DESCRIBE_STREAM_PER_SECOND = 5.0
RELIST_PER_SECOND = 2.0
GET_RECORDS_LIMIT = 1000
QUIET_BATCH = 100  # quiet shards polled by one task
QUIET_SECONDS = 2.0  # a shard whose next poll is this far away is quiet: polled in the tick's batches
QUIET_THREADS = 16  # GetRecords calls of a batch in flight at once: the batch waits on AWS, not on the CPU
DYNAMODB_SERVICE = "dynamodb.amazonaws.com"
RECORD_KINDS = ("insert", "modify", "remove", "ttl_remove")


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


def to_changes(source: Source, records: list[dict[str, Any]]) -> tuple[list[writer.Change], dict[str, int]]:
    """Stream records → document changes, skipping those older than the recorded start position.
    Returns the changes and how many of each kind they are (insert, modify, remove, ttl_remove)."""
    key_names = source.key_names
    changes: list[writer.Change] = []
    kinds = dict.fromkeys(RECORD_KINDS, 0)
    for record in records:
        at = _record_time(record)
        if source.stream_start_at and at < source.stream_start_at:
            continue
        data = record["dynamodb"]
        doc_id = convert.document_id(data["Keys"], key_names)
        if record["eventName"] == "REMOVE":
            changes.append(writer.Change(doc_id, None, at))
            identity = record.get("userIdentity") or {}
            ttl = identity.get("type") == "Service" and identity.get("principalId") == DYNAMODB_SERVICE
            kinds["ttl_remove" if ttl else "remove"] += 1
        else:
            changes.append(writer.Change(doc_id, convert.item_to_json(data["NewImage"]), at))
            kinds["insert" if record["eventName"] == "INSERT" else "modify"] += 1
    return changes, kinds


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


QUIET_FIELDS = ("pk", "caught_up", "idle_polls", "not_before", "last_read_at")  # what `quiet` reads: only these


def quiet(shard: Shard) -> bool:
    """A shard that found nothing for a while (its next poll 2 s or more away): the supervisor polls it with
    others in one task (`poll_quiet`) rather than it holding a queued task of its own, and busy shards never
    wait behind such polls. The tick takes it when its poll falls due before the next tick, so a poll is
    never early and at most a tick late: a change to a quiet table is seen within about 5 s."""
    if not (shard.caught_up and shard.idle_polls and shard.not_before and shard.last_read_at):
        return False  # a shard whose last poll found records keeps its own task (a slow poll frequency too)
    return (shard.not_before - shard.last_read_at).total_seconds() >= min(QUIET_SECONDS, timing.tick())


def poll_quiet(shard_pks: list[int]) -> list[int]:
    """One GetRecords for each of many quiet shards, the calls side by side, and one transaction for all
    those that found nothing. Returns the shards that found records (or an error, or their end): each gets
    its own `read_shard`, which reads them again from the same iterator and applies them, so that every
    record is applied by the one code path the crash drills prove."""
    owner = leases.new_owner()
    with leases.held_batch(Shard, shard_pks, owner) as hold:
        shards = Shard.objects.filter(
            pk__in=hold.pks,
            source__state=Source.State.PROCESSING_STREAM,
            source__error="",
            source__suspended_at__isnull=True,
        ).select_related("source__integration__organisation")
        by_pk = {shard.pk: shard for shard in shards}
        clients: dict[int, Any] = {}
        for shard in by_pk.values():
            try:
                clients[shard.pk] = errors.engine_client(shard.source, "dynamodbstreams")
            except aws.AwsError:
                continue  # its own read_shard says why
        with hold.waiting("dynamodb:GetRecords"), ThreadPoolExecutor(QUIET_THREADS) as pool:
            peeks = pool.map(_peek, [by_pk[pk] for pk in clients], clients.values())
            answers = dict(zip(clients, peeks, strict=True))
        empty = {pk: iterator for pk, iterator in answers.items() if iterator}
        _note_empty([by_pk[pk] for pk in empty], empty, owner)
    return [pk for pk in by_pk if pk not in empty]


def _peek(shard: Shard, client: Any) -> str | None:
    """The next iterator when the shard has nothing new; None when it has records, has ended, or the call
    failed (what it was is for its own read_shard to meet and say). Runs in a thread: no database here."""
    try:
        response = client.get_records(ShardIterator=shard.iterator or _iterator(client, shard), Limit=GET_RECORDS_LIMIT)
    except Exception as exc:  # noqa: BLE001 - read_shard meets it again, and backs off or says why
        log.info(
            "a batch's GetRecords of %s failed (its own read follows): %s", shard, exc, extra=logs.about(shard=shard)
        )
        return None
    return None if response.get("Records") else response.get("NextShardIterator")


def _note_empty(shards: list[Shard], iterators: dict[int, str], owner: str) -> None:
    """The empty polls, in the engine's lock order (the sources, then the shards, each in key order), and only
    for shards whose lease we still hold: the next poll's time and iterator, and when the stream last
    answered. dispatched_at is cleared so the next tick hands them out again."""
    if not shards:
        return
    now = clock.now()
    with transaction.atomic():
        sources = Source.objects.select_for_update().filter(
            pk__in={s.source_id for s in shards},
            state=Source.State.PROCESSING_STREAM,
            error="",
            suspended_at__isnull=True,
        )
        following = set(sources.order_by("pk").values_list("pk", flat=True))
        mine = Shard.objects.select_for_update().filter(
            pk__in=[s.pk for s in shards], source_id__in=following, leased_by=owner, lease_expires_at__gt=now
        )
        held = set(mine.order_by("pk").values_list("pk", flat=True))
        updated = []
        for shard in shards:
            if shard.pk not in held:
                continue
            shard.idle_polls += 1
            shard.iterator = iterators[shard.pk]
            shard.not_before = now + timedelta(seconds=idle_wait(shard.source, shard.idle_polls))
            shard.last_read_at = shard.progress_at = now
            shard.retries, shard.problem, shard.dispatched_at = 0, "", None
            updated.append(shard)
        fields = ["idle_polls", "iterator", "not_before", "last_read_at", "progress_at", "retries", "problem"]
        Shard.objects.bulk_update(updated, [*fields, "dispatched_at"])
        Source.objects.filter(pk__in={s.source_id for s in updated}).update(stream_last_processed_at=now)


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
        at_tip = iterator is not None and (not records or _short_page(response))
        try:
            committed = _commit(shard, hold.owner, records, at_tip=at_tip, next_iterator=iterator)
        except errors.BadData as problem:
            lifecycle.stop(source, f"A record of shard {shard.shard_id} of {where} could not be applied: {problem}")
            return "failed"
        if not committed:
            return "lost"
        if iterator is None:
            return "finished"
        if at_tip:
            return "idle"  # caught up: the next poll is scheduled at the shard's not_before
    return "more"


SHORT_PAGE_BYTES = 256 * 1024


def _short_page(response: dict[str, Any]) -> bool:
    """Fewer records than asked for, in well under GetRecords' 1 MB: what the stream held is read, so the
    next poll waits for the poll frequency rather than asking again at once for what is usually nothing
    (half the calls and commits of a busy shard). A page cut short by size is read on at once."""
    length = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("content-length")
    return len(response["Records"]) < GET_RECORDS_LIMIT and length is not None and int(length) < SHORT_PAGE_BYTES


def _commit(
    shard: Shard, owner: str, records: list[dict[str, Any]], *, at_tip: bool, next_iterator: str | None
) -> bool:
    """The records, the checkpoint and the source's figures in one transaction. Locks in the engine's one
    order (lifecycle): the source's fence, then the shard, then the collection's counters (writer.apply,
    after the documents), then the source's figures, the last statement. At the tip, the next poll is due
    after the poll frequency, doubling while the shard stays empty; no iterator: finished."""
    source = shard.source
    try:
        changes, kinds = to_changes(source, records)
    except (KeyError, TypeError, ValueError) as exc:
        raise errors.BadData(f"{type(exc).__name__}: {exc}") from exc
    now = clock.now()
    with transaction.atomic():
        # COPY into this session's staging table before the locks: the source's other shards wait only
        # for the upsert.
        staged = writer.stage(changes, source.collection_id)
        if not lifecycle.lock_source(source.pk, Source.State.PROCESSING_STREAM):
            return False  # paused, failed or re-synced since the read began
        if not leases.holds(Shard, shard.pk, owner, checkpoint=shard.checkpoint):
            return False  # lapsed, or another worker moved the checkpoint on while our lease had lapsed
        finished = next_iterator is None
        idle_polls = 0 if records else shard.idle_polls + 1
        wait = idle_wait(source, idle_polls) if idle_polls else source.poll_frequency_seconds
        update: dict[str, Any] = {
            "last_read_at": now,
            "progress_at": now,
            "idle_polls": idle_polls,
            "caught_up": at_tip,
            "retries": 0,
            "problem": "",
            "not_before": now + timedelta(seconds=wait) if at_tip else None,
            "iterator": next_iterator or "",
            "lease_expires_at": leases.expiry(),  # renewed: we hold it, checked under the lock above
        }
        if records:
            shard.checkpoint = records[-1]["dynamodb"]["SequenceNumber"]
            update.update(checkpoint=shard.checkpoint, records_applied=F("records_applied") + len(records))
        if finished:
            update["done"] = True
        Shard.objects.filter(pk=shard.pk).update(**update)
        shard.idle_polls = idle_polls
        # The rows the source's other shards update too come last: they wait for each other only from here.
        writer.apply(source.collection_id, staged)
        source_update: dict[str, Any] = {"stream_last_processed_at": now}
        if changes:
            source_update.update(
                stream_last_record_at=writer.never_earlier("stream_last_record_at", max(c.event_time for c in changes)),
                stream_records_applied=F("stream_records_applied") + len(changes),
                user_deletes=F("user_deletes") + kinds["remove"],
                ttl_deletes=F("ttl_deletes") + kinds["ttl_remove"],
            )
        Source.objects.filter(pk=source.pk).update(**source_update)
        if (at_tip or finished) and source.collection.status == Collection.Status.CREATED:
            _mark_ready_if_caught_up(source)
    metrics.records_applied(kinds)  # committed: counted once, whatever retries came before
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
    """DescribeStream for each source again every minute, or less often when there are so many that this
    would exceed `RELIST_PER_SECOND` across them all (500 sources: every 250 s)."""
    return timedelta(seconds=max(timing.DISCOVERY_SECONDS, streaming_sources / RELIST_PER_SECOND))
