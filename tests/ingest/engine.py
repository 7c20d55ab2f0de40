"""Run the ingest engine in-process, step by step, and compare a collection with its table."""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from collections_app.models import Collection, Document, Source
from collections_app.services import collection_create
from collections_app.tables import describe_table
from ingest import clock, convert, export, initial_load, scan, stream, supervisor, tasks, timing
from ingest.models import ExportFile, ScanSegment, Shard
from integrations.models import Integration


def make_table(
    dynamodb: Any, name: str, items: int, *, sort_key: bool = False, binary_key: bool = False, seed: int = 1
) -> None:
    key_type = "B" if binary_key else "S"
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attributes = [{"AttributeName": "pk", "AttributeType": key_type}]
    if sort_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attributes.append({"AttributeName": "sk", "AttributeType": "N"})
    dynamodb.create_table(
        TableName=name,
        KeySchema=keys,
        AttributeDefinitions=attributes,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 100, "WriteCapacityUnits": 100},
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    rng = random.Random(seed)
    for start in range(0, items, 25):
        batch = [
            {"PutRequest": {"Item": item(n, rng, sort_key, binary_key)}} for n in range(start, min(items, start + 25))
        ]
        dynamodb.batch_write_item(RequestItems={name: batch})


def item(n: int, rng: random.Random, sort_key: bool = False, binary_key: bool = False) -> dict[str, Any]:
    value: dict[str, Any] = {
        "pk": {"B": n.to_bytes(4, "big") + b"\x00\xff"} if binary_key else {"S": f"item-{n:05d}"},
        "big": {"N": f"{rng.randrange(10**19, 10**20)}.{rng.randrange(10**17, 10**18)}"},
        "price": {"N": f"{rng.randrange(1, 10**6)}.50"},
        "name": {"S": "x" * rng.randrange(0, 400)},
        "blob": {"B": rng.randbytes(rng.randrange(1, 64))},
        "flags": {
            "M": {"ok": {"BOOL": rng.random() < 0.5}, "none": {"NULL": True}, "l": {"L": [{"N": "1"}, {"S": ""}]}}
        },
        "tags": {"SS": ["a", f"t{n % 7}"]},
        "counts": {"NS": ["1", str(n + 2)]},
        "bins": {"BS": [b"\x01", bytes([n % 256, 7])]},
        "empty": {"M": {}},
    }
    if sort_key:
        value["sk"] = {"N": str(n % 3)}
    return value


def create_source(
    organisation: Any,
    user: Any,
    integration: Integration,
    table: str,
    *,
    rcu: int = 50,
    name: str = "c",
    method: str = "scan",
    may_enable_pitr: bool = False,
) -> Source:
    collection: Collection = collection_create(
        organisation=organisation,
        user=user,
        workspace_name="commons",
        name=name,
        description="",
        integration=integration,
        table=describe_table(integration, "us-east-1", table),
        load_method=method,
        rcu=rcu if method == "scan" else None,
        may_enable_pitr=may_enable_pitr,
        poll_frequency_ms=250,
    )
    return collection.source


def loaded(people: Any, integration: Integration, aws: Any, items: int = 50) -> Source:
    """A table `t` of `items` items, loaded by Scan and followed until caught up."""
    make_table(aws.dynamodb, "t", items)
    source = create_source(people.acme, people.alice, integration, "t", rcu=10)
    load(source)
    follow(source)
    return source


def load(source: Source, *, slice_seconds: float = 5) -> None:
    """The initial load, run here instead of by workers: start, then every segment to its end."""
    initial_load.start(source.pk)
    for _ in range(10_000):
        pending = list(ScanSegment.objects.filter(source=source, done=False).values_list("pk", flat=True))
        if not pending:
            return
        segment_id = random.choice(pending)
        if scan.run_segment(segment_id, slice_seconds=slice_seconds) == "backoff":
            wait_until_due(ScanSegment, segment_id)
    raise AssertionError("the scan never finished")


def load_by_export(source: Source) -> None:
    """The export load, run here: start, poll until the export is written, then every file to its end."""
    initial_load.start(source.pk)
    for _ in range(1000):
        source.refresh_from_db()
        if source.error or source.load_finished_at or source.state == Source.State.INITIALIZING:
            return  # done, stopped, or started over (a re-sync queues a new start)
        if source.state == Source.State.EXPORTING_TO_S3:
            time.sleep(0.01)  # moto writes the export in a thread, in real time
            export.poll(source.pk)
            continue
        pending = list(ExportFile.objects.filter(source=source, done=False).values_list("pk", flat=True))
        file_id = random.choice(pending)
        if export.load_file(file_id) == "backoff":
            wait_until_due(ExportFile, file_id)
    raise AssertionError("the export load never finished")


def follow(source: Source, *, rounds: int = 3) -> None:
    """Do what the supervisor and the workers do, in this thread: discover shards, then read every readable
    shard until it is idle (caught up) or finished, a few rounds (children become readable). Backoffs
    and idle pauses pass on the virtual clock."""
    source.refresh_from_db()
    for _ in range(rounds):
        # This driver reads right away; the idle back-off between polls has its own test and bench.
        Shard.objects.filter(source=source).update(idle_polls=0, not_before=None)
        supervisor.discover_shards(source.pk)
        for shard in Shard.objects.filter(stream.readable_shards(source), done=False):
            for _ in range(50):
                outcome = stream.read_shard(shard.pk)
                if outcome == "backoff":
                    wait_until_due(Shard, shard.pk)
                elif outcome != "more":
                    break


class Workers:
    """Beat and a worker on the virtual clock: the supervisor's tick every `timing.tick()`, and every stream
    task the engine queues run (in this thread) when its countdown is due, in order. Nothing sleeps: the
    clock jumps to the next thing due. `ran` lists the tasks run, by name."""

    TASKS = ("read_shard", "poll_quiet_shards", "discover_shards")

    def __init__(self, monkeypatch: Any) -> None:
        self.queue: list[tuple[float, int, str, Any]] = []
        self.ran: list[str] = []
        self.next_tick = clock.monotonic()
        for name in self.TASKS:
            monkeypatch.setattr(f"ingest.tasks.{name}.delay", lambda arg, name=name: self._queue(name, arg, 0.0))
            monkeypatch.setattr(
                f"ingest.tasks.{name}.apply_async",
                lambda args, countdown=0.0, name=name: self._queue(name, args[0], countdown),
            )

    def _queue(self, name: str, arg: Any, countdown: float) -> None:
        self.queue.append((clock.monotonic() + countdown, len(self.ran) + len(self.queue), name, arg))
        self.queue.sort(key=lambda entry: entry[:2])

    def run(self, seconds: float) -> None:
        end = clock.monotonic() + seconds
        while True:
            task_due = self.queue[0][0] if self.queue else float("inf")
            due = min(task_due, self.next_tick)
            if due >= end:
                clock.sleep(max(0.0, end - clock.monotonic()))
                return
            clock.sleep(max(0.0, due - clock.monotonic()))
            if task_due <= self.next_tick:
                _, _, name, arg = self.queue.pop(0)
                self.ran.append(name)
                getattr(tasks, name)(arg)
            else:
                self.next_tick += timing.tick()
                supervisor.tick()


def wait_until_due(model: Any, pk: int) -> None:
    """Advance the virtual clock to the unit's next run, as the countdown of its queued task would."""
    not_before = model.objects.filter(pk=pk).values_list("not_before", flat=True).first()
    if not_before:
        clock.sleep(max(0.0, (not_before - clock.now()).total_seconds()))


def table_documents(dynamodb: Any, table: str, key_names: list[str]) -> dict[str, Any]:
    documents = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for raw in page["Items"]:
            documents[convert.document_id(raw, key_names)] = convert.item_to_document(raw)
    return documents


def collection_documents(collection_id: int) -> dict[str, Any]:
    return dict(Document.objects.filter(collection_id=collection_id).values_list("doc_id", "body"))


def assert_equal_to_table(source: Source, dynamodb: Any) -> None:
    expected = table_documents(dynamodb, source.table_name, source.key_names)
    actual = collection_documents(source.collection_id)
    missing, extra = expected.keys() - actual.keys(), actual.keys() - expected.keys()
    assert not missing and not extra, f"missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
    different = [k for k in expected if expected[k] != actual[k]]
    assert not different, (
        f"{len(different)} documents differ, e.g. {different[0]}: {expected[different[0]]} != {actual[different[0]]}"
    )
    collection = Collection.objects.get(pk=source.collection_id)
    assert collection.doc_count == len(expected)


def stream_pages(
    shard: int, records: int, *, per_page: int, seed: int | None = None, start: datetime | None = None
) -> list[list[dict[str, Any]]]:
    """A shard's GetRecords pages as DynamoDB Streams gives them: about half INSERTs of the shard's own new
    keys, then MODIFYs and REMOVEs of live ones (the stream-apply bench and the fence's races share them)."""
    rng = random.Random(shard if seed is None else seed)
    live: list[str] = []
    made: list[dict[str, Any]] = []
    at = start or timezone.now()
    for n in range(records):
        roll = rng.random()
        if roll < 0.5 or len(live) < 3:
            key, event = f"s{shard}-{n:07d}", "INSERT"
            live.append(key)
        elif roll < 0.8:
            key, event = rng.choice(live), "MODIFY"
        else:
            key, event = live.pop(rng.randrange(len(live))), "REMOVE"
        data: dict[str, Any] = {
            "Keys": {"pk": {"S": key}},
            "SequenceNumber": f"{n + 1:021d}",
            "ApproximateCreationDateTime": at + timedelta(milliseconds=n),
        }
        if event != "REMOVE":
            data["NewImage"] = {**item(n, rng), "pk": {"S": key}}
        made.append({"eventName": event, "dynamodb": data})
    return [made[i : i + per_page] for i in range(0, len(made), per_page)]
