"""What /metrics shows about the engine: per-collection figures from the rows, counters from where things
happen (in this process here; the multiprocess files sum them across processes)."""

from __future__ import annotations

import random

from collections_app.models import Collection
from ingest import supervisor
from ingest.models import Shard
from tests.ingest.engine import follow, item, loaded
from tests.scrape import scrape, value

C = {"organisation": "Acme", "workspace": "commons", "collection": "c"}


def test_a_followed_collection_shows_its_documents_state_and_no_lag(people, integration, aws, settings):
    source = loaded(people, integration, aws, items=30)
    samples = scrape(settings)
    collection = Collection.objects.get(pk=source.collection_id)
    assert value(samples, "millrace_collection_documents", **C) == collection.doc_count == 30
    assert value(samples, "millrace_collection_bytes", **C) == collection.total_size_bytes > 0
    assert value(samples, "millrace_collection_state", **C, state="PROCESSING_STREAM") == 1
    assert value(samples, "millrace_collection_state", **C, state="SCANNING") == 0
    assert value(samples, "millrace_collection_behind_source_milliseconds", **C) == 0
    assert value(samples, "millrace_collection_load_items", **C) == 30
    assert value(samples, "millrace_collection_load_completion_ratio", **C) == 1.0
    assert value(samples, "millrace_collection_shards_open", **C) == Shard.objects.filter(source=source).count()
    assert value(samples, "millrace_collection_error", **C) == 0


def test_records_applied_are_counted_by_kind(people, integration, aws, settings):
    source = loaded(people, integration, aws, items=10)
    before = scrape(settings)
    rng = random.Random(5)
    aws.dynamodb.put_item(TableName="t", Item=item(500, rng))
    aws.dynamodb.put_item(TableName="t", Item=item(501, rng))
    aws.dynamodb.put_item(TableName="t", Item=item(1, rng))  # exists: a modify
    aws.dynamodb.delete_item(TableName="t", Key={"pk": {"S": "item-00002"}})
    follow(source)
    after = scrape(settings)
    applied = "millrace_records_applied_total"
    grown = {k: value(after, applied, kind=k) - value(before, applied, kind=k) for k in ("insert", "modify", "remove")}
    assert grown == {"insert": 2, "modify": 1, "remove": 1}
    assert value(after, "millrace_collection_documents", **C) == 11
    assert value(after, "millrace_collection_deletes_total", **C, kind="user") == 1


def test_paused_the_lag_grows_and_resumed_it_falls_back(people, integration, aws, settings, virtual_clock):
    from collections_app.services import source_pause, source_resume

    source = loaded(people, integration, aws, items=5)
    source_pause(source=source)
    virtual_clock.advance(90)
    behind = value(scrape(settings), "millrace_collection_behind_source_milliseconds", **C)
    assert behind >= 90_000
    assert value(scrape(settings), "millrace_collection_paused", **C) == 1
    source.refresh_from_db()
    source_resume(source=source)
    follow(source)
    assert value(scrape(settings), "millrace_collection_behind_source_milliseconds", **C) == 0


def test_an_access_denied_is_counted_by_operation_and_code(people, integration, aws, faults, settings):
    source = loaded(people, integration, aws, items=5)
    before = scrape(settings)
    denial = faults.access_denied("dynamodbstreams", "GetRecords", "dynamodb:GetRecords")
    aws.dynamodb.put_item(TableName="t", Item=item(700, random.Random(1)))
    follow(source, rounds=1)
    after = scrape(settings)
    errors = "millrace_aws_errors_total"
    denied = {"service": "dynamodb-streams", "operation": "GetRecords", "code": denial.code}
    assert value(after, errors, **denied) == value(before, errors, **denied) + 1
    calls = {"service": "dynamodb-streams", "operation": "GetRecords"}
    assert value(after, "millrace_aws_calls_total", **calls) > value(before, "millrace_aws_calls_total", **calls)
    assert value(after, "millrace_collection_error", **C) == 1
    assert value(after, "millrace_source_errors_total") == value(before, "millrace_source_errors_total") + 1
    assert value(after, "millrace_collection_events", **C, kind="error") == 1
    assert value(after, "millrace_collection_events", **C, kind="resync") == 0


def test_resyncs_and_idle_shards_are_shown_per_collection(people, integration, aws, settings):
    from collections_app.services import source_resync

    source = loaded(people, integration, aws, items=5)
    follow(source, rounds=2)  # nothing new: the shard's polls find nothing
    samples = scrape(settings)
    idle = Shard.objects.filter(source=source, done=False, idle_polls__gt=0).count()
    assert idle >= 1 and value(samples, "millrace_collection_shards_idle", **C) == idle
    source_resync(source=source)
    source_resync(source=source)
    assert value(scrape(settings), "millrace_collection_events", **C, kind="resync") == 2


def test_throttling_is_counted(people, integration, aws, faults, settings):
    source = loaded(people, integration, aws, items=5)
    before = scrape(settings)
    throttled = faults.add("dynamodbstreams", "GetRecords", "ThrottlingException", status=400)
    aws.dynamodb.put_item(TableName="t", Item=item(700, random.Random(1)))
    follow(source, rounds=1)
    after = scrape(settings)
    labels = {"service": "dynamodb-streams", "operation": "GetRecords"}
    assert throttled.hits >= 1
    grown = value(after, "millrace_aws_throttles_total", **labels) - value(
        before, "millrace_aws_throttles_total", **labels
    )
    assert grown == throttled.hits


def test_a_lapsed_lease_handed_out_again_counts_as_a_takeover(people, integration, aws, settings, virtual_clock):
    from ingest import leases, timing

    source = loaded(people, integration, aws, items=5)
    shard = Shard.objects.filter(source=source, done=False).first()
    Shard.objects.filter(pk=shard.pk).update(
        leased_by="dead-worker", lease_expires_at=leases.expiry(), dispatched_at=None, not_before=None
    )
    before = scrape(settings)
    virtual_clock.advance(timing.lease() + 1)
    supervisor.tick()
    after = scrape(settings)
    takeovers = "millrace_lease_takeovers_total"
    assert value(after, takeovers, unit="shard") == value(before, takeovers, unit="shard") + 1
    ticks = "millrace_supervisor_tick_seconds_count"
    assert value(after, ticks) == value(before, ticks) + 1
