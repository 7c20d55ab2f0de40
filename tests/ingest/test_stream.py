from __future__ import annotations

import html
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from collections_app.models import Collection, Document, Source
from collections_app.services import source_pause, source_resume
from ingest import clock, leases, stream, tasks, timing
from ingest.models import Shard
from tests.conftest import client_for
from tests.ingest.engine import (
    Workers,
    assert_equal_to_table,
    create_source,
    follow,
    item,
    load,
    loaded,
    make_table,
)


def test_inserts_updates_and_deletes_reach_the_collection(people, integration, aws):
    import random

    source = loaded(people, integration, aws)
    rng = random.Random(3)
    aws.dynamodb.put_item(TableName="t", Item=item(900, rng))
    aws.dynamodb.update_item(
        TableName="t",
        Key={"pk": {"S": "item-00001"}},
        UpdateExpression="SET price = :p",
        ExpressionAttributeValues={":p": {"N": "99999999999999999999.999999999999999999"}},
    )
    aws.dynamodb.delete_item(TableName="t", Key={"pk": {"S": "item-00002"}})
    follow(source)
    assert_equal_to_table(source, aws.dynamodb)
    body = Document.objects.get(collection=source.collection, doc_id="item-00001").body
    assert str(body["price"]) == "99999999999999999999.999999999999999999"
    source.refresh_from_db()
    assert source.user_deletes == 1 and source.ttl_deletes == 0
    assert Collection.objects.get(pk=source.collection_id).status == Collection.Status.READY


def test_ttl_deletes_are_applied_and_counted_apart(people, integration, aws, faults):
    source = loaded(people, integration, aws)

    def mark_ttl(params, response):  # moto never expires items; real TTL deletes carry this identity
        for record in response.get("Records", []):
            if record["eventName"] == "REMOVE" and record["dynamodb"]["Keys"]["pk"]["S"] == "item-00003":
                record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}

    faults.rewrite("dynamodbstreams", "GetRecords", mark_ttl)
    aws.dynamodb.delete_item(TableName="t", Key={"pk": {"S": "item-00003"}})
    aws.dynamodb.delete_item(TableName="t", Key={"pk": {"S": "item-00004"}})
    follow(source)
    source.refresh_from_db()
    assert (source.ttl_deletes, source.user_deletes) == (1, 1)
    assert_equal_to_table(source, aws.dynamodb)


def test_an_expired_iterator_is_renewed_from_the_checkpoint(people, integration, aws, faults):
    source = loaded(people, integration, aws)
    calls = {"n": 0}

    def second_call(params):
        calls["n"] += 1
        return calls["n"] == 2

    expired = faults.add("dynamodbstreams", "GetRecords", "ExpiredIteratorException", when=second_call)
    renewals = faults.spy("dynamodbstreams", "GetShardIterator")
    import random

    for n in range(600, 620):
        aws.dynamodb.put_item(TableName="t", Item=item(n, random.Random(n)))
    follow(source, rounds=1)
    assert expired.hits == 1
    assert any(r.get("ShardIteratorType") == "AFTER_SEQUENCE_NUMBER" for r in renewals)
    assert_equal_to_table(source, aws.dynamodb)


def test_records_from_before_the_start_position_are_skipped(people, integration, aws):
    import random

    make_table(aws.dynamodb, "t", 20)  # these writes are in the stream, before the collection existed
    source = create_source(people.acme, people.alice, integration, "t", rcu=10)
    load(source)
    # As if the table had been written more than the replay margin (2 minutes) before the load began.
    # moto dates its records by the real clock, not the tests' virtual one.
    Source.objects.filter(pk=source.pk).update(stream_start_at=datetime.now(UTC))
    follow(source)
    source.refresh_from_db()
    assert source.stream_records_applied == 0
    aws.dynamodb.put_item(TableName="t", Item=item(700, random.Random(1)))
    follow(source)
    source.refresh_from_db()
    assert source.stream_records_applied == 1


def test_two_workers_never_hold_the_same_shard(people, integration, aws):
    source = loaded(people, integration, aws)
    shard = Shard.objects.get(source=source)
    assert leases.claim(Shard, shard.pk, "worker-a")
    assert not leases.claim(Shard, shard.pk, "worker-b")
    assert stream.read_shard(shard.pk, owner="worker-b") == "held"
    Shard.objects.filter(pk=shard.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert leases.claim(Shard, shard.pk, "worker-b")  # a dead worker's shard is taken over after expiry
    assert not leases.claim(Shard, shard.pk, "worker-a")


def test_pause_stops_reading_and_resume_loses_nothing(people, integration, aws):
    import random

    source = loaded(people, integration, aws)
    source_pause(source=source)
    for n in range(800, 830):
        aws.dynamodb.put_item(TableName="t", Item=item(n, random.Random(n)))
    shard = Shard.objects.get(source=source)
    assert stream.read_shard(shard.pk, slice_seconds=0.5) == "stopped"
    assert Collection.objects.get(pk=source.collection_id).status == Collection.Status.PAUSED
    assert Document.objects.filter(collection=source.collection, doc_id="item-00800").count() == 0
    source.refresh_from_db()
    assert source_resume(source=source) is True
    follow(source)
    assert_equal_to_table(source, aws.dynamodb)


def test_a_trimmed_stream_says_changes_were_missed_emails_and_resyncs(
    people, integration, aws, faults, mailoutbox, django_capture_on_commit_callbacks
):
    source = loaded(people, integration, aws)
    trimmed = faults.add("dynamodbstreams", "GetShardIterator", "TrimmedDataAccessException")
    Shard.objects.filter(source=source).update(checkpoint="1100000000000000000001", iterator="")  # long ago
    for n in range(900, 910):
        aws.dynamodb.put_item(TableName="t", Item=item(n, random.Random(n)))
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        follow(source, rounds=1)
    source.refresh_from_db()
    assert trimmed.hits and not source.error
    assert source.state == Source.State.INITIALIZING and "changes were missed" in source.notice
    assert not Shard.objects.filter(source=source).exists()
    [mail] = mailoutbox
    assert "missed changes" in mail.subject and "24 hours" in mail.body and mail.to == ["alice@acme.test"]
    page = client_for(people.bob).get(reverse("collection_detail", args=["commons", "c"])).content.decode()
    assert "changes were missed" in page

    faults.faults.remove(trimmed)
    load(source)
    follow(source)
    assert_equal_to_table(source, aws.dynamodb)


def test_the_collection_page_shows_progress_and_stops_polling_on_pause(people, integration, aws):
    loaded(people, integration, aws)
    client = client_for(people.bob)
    url = reverse("collection_status", args=["commons", "c"])
    page = client.get(url, HTTP_HX_REQUEST="true")
    assert page.status_code == 200 and 'hx-trigger="every 2s"' in page.content.decode()
    text = page.content.decode()
    assert "100.0 %" in text and "50 of about 50 items" in text and "caught up" in text
    client.post(reverse("collection_action", args=["commons", "c", "pause"]))
    page = client.get(url, HTTP_HX_REQUEST="true")
    assert page.status_code == 286  # htmx's "stop polling"
    assert "Paused since" in page.content.decode()
    client.post(reverse("collection_action", args=["commons", "c", "resume"]))
    assert client.get(url, HTTP_HX_REQUEST="true").status_code == 200


def test_a_stopped_collection_that_millrace_retries_by_itself_keeps_its_page_polling(people, integration, aws):
    """The page says "Millrace retries by itself at …": it must go on asking, or the retry never shows."""
    source = loaded(people, integration, aws)
    Source.objects.get(pk=source.pk).fail("dynamodb:GetRecords failed: throttled.")
    page = client_for(people.bob).get(reverse("collection_status", args=["commons", "c"]), HTTP_HX_REQUEST="true")
    text = page.content.decode()
    assert page.status_code == 200 and 'hx-trigger="every 2s"' in text and "Millrace retries by itself at" in text


def test_the_documents_browser_pages_and_looks_up_by_key(people, integration, aws):
    loaded(people, integration, aws, items=60)
    client = client_for(people.bob)
    url = reverse("collection_documents", args=["commons", "c"])
    first = client.get(url).content.decode()
    assert "item-00000" in first and "Page 1 of 3" in first and "item-00030" not in first
    assert "item-00059" in client.get(url, {"page": 3}).content.decode()
    found = html.unescape(client.get(url, {"pk": "item-00042"}).content.decode())
    assert "item-00042" in found and "item-00000" not in found and '"big": ' in found
    assert "No document with" in client.get(url, {"pk": "nope"}).content.decode()


def test_collection_pages_and_actions_reject_other_organisations(people, integration, aws):
    loaded(people, integration, aws, items=5)
    client = client_for(people.carol)
    for name, args in [("collection_detail", []), ("collection_status", []), ("collection_documents", [])]:
        assert client.get(reverse(name, args=["commons", "c", *args])).status_code == 404
    for action in ["pause", "resume", "retry"]:
        assert client.post(reverse("collection_action", args=["commons", "c", action])).status_code == 404
    assert Collection.objects.get().status == Collection.Status.READY


def test_the_admin_resyncs_and_shows_shards_and_segments(people, integration, aws, no_queue):
    source = loaded(people, integration, aws, items=10)
    client = client_for(people.alice)
    assert "shardId-" in client.get(reverse("admin:ingest_shard_changelist")).content.decode()
    assert client.get(reverse("admin:ingest_scansegment_changelist")).status_code == 200
    client.post(
        reverse("admin:collections_app_collection_changelist"),
        {"action": "resync", "_selected_action": [source.collection_id]},
    )
    source.refresh_from_db()
    assert source.state == Source.State.INITIALIZING and not source.load_started_at
    assert Collection.objects.get(pk=source.collection_id).doc_count == 0 and not Shard.objects.exists()
    load(source)
    follow(source)
    assert_equal_to_table(source, aws.dynamodb)


def test_an_idle_shard_backs_off_to_a_ceiling_and_its_next_poll_is_scheduled_not_slept(
    people, integration, aws, no_queue, virtual_clock
):
    source = loaded(people, integration, aws, items=5)
    assert [stream.idle_wait(source, n) for n in range(0, 8)] == [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    shard = Shard.objects.get(source=source)
    Shard.objects.filter(pk=shard.pk).update(idle_polls=1)
    no_queue.clear()
    virtual_clock.sleeps.clear()
    tasks.read_shard(shard.pk)
    shard.refresh_from_db()
    assert shard.caught_up and shard.idle_polls == 2
    assert (shard.not_before - shard.last_read_at).total_seconds() == pytest.approx(0.5, abs=0.01)
    assert virtual_clock.sleeps == []  # the worker slot was free at once
    assert no_queue == [("read_shard", shard.pk)]  # queued again, for its next poll
    assert (shard.dispatched_at - shard.not_before).total_seconds() == pytest.approx(0, abs=0.01)

    # Quiet (its next poll 2 s or more away): its task isn't queued again, the supervisor's batches poll it.
    virtual_clock.advance(0.5)
    Shard.objects.filter(pk=shard.pk).update(idle_polls=6)
    no_queue.clear()
    tasks.read_shard(shard.pk)
    shard.refresh_from_db()
    assert (shard.not_before - shard.last_read_at).total_seconds() == pytest.approx(5.0, abs=0.01)
    assert no_queue == [] and shard.dispatched_at is None and stream.quiet(shard)


def test_a_short_page_is_the_tip_so_a_busy_shard_costs_one_getrecords_a_poll(people, integration, aws, faults):
    """AWS sends each page's Content-Length (moto's in-process mock doesn't: added here). A page short in
    records and bytes holds all there was; one cut short by GetRecords' 1 MB is read on at once."""
    source = loaded(people, integration, aws, items=5)
    page_bytes: dict[str, int | None] = {"forced": None}

    def content_length(params, response):
        size = page_bytes["forced"] or len(json.dumps(response["Records"], default=str))
        response["ResponseMetadata"]["HTTPHeaders"]["content-length"] = str(size)

    faults.rewrite("dynamodbstreams", "GetRecords", content_length)
    calls = faults.spy("dynamodbstreams", "GetRecords")
    shard = Shard.objects.get(source=source)
    for n in range(900, 903):
        aws.dynamodb.put_item(TableName="t", Item=item(n, random.Random(n)))

    assert stream.read_shard(shard.pk) == "idle"
    assert len(calls) == 1
    shard.refresh_from_db()
    assert shard.caught_up and shard.idle_polls == 0
    assert (shard.not_before - shard.last_read_at).total_seconds() == pytest.approx(0.25, abs=0.01)
    assert_equal_to_table(source, aws.dynamodb)

    page_bytes["forced"] = 900_000
    for n in range(903, 906):
        aws.dynamodb.put_item(TableName="t", Item=item(n, random.Random(n)))
    calls.clear()
    assert stream.read_shard(shard.pk) == "idle"
    assert len(calls) == 2  # the big page, then the empty one that shows the tip
    assert_equal_to_table(source, aws.dynamodb)


def quiet_sources(people, integration, aws, count):
    """`count` tables loaded and followed until each shard is quiet (at the idle ceiling)."""
    sources = []
    for n in range(count):
        make_table(aws.dynamodb, f"t{n}", 3, seed=n)
        source = create_source(people.acme, people.alice, integration, f"t{n}", rcu=10, name=f"c{n}")
        load(source)
        follow(source)
        sources.append(source)
    shards = Shard.objects.filter(source__in=sources)
    shards.update(idle_polls=6, dispatched_at=None)
    for shard in shards:
        assert stream.read_shard(shard.pk) == "idle"
    assert all(stream.quiet(shard) for shard in Shard.objects.filter(source__in=sources))
    return sources


def test_quiet_shards_are_polled_in_batches_by_the_tick_and_a_change_is_still_seen_within_seconds(
    people, integration, aws, faults, monkeypatch, virtual_clock
):
    sources = quiet_sources(people, integration, aws, 3)
    monkeypatch.setattr(stream, "QUIET_BATCH", 2)
    batches = []
    real_poll = stream.poll_quiet
    monkeypatch.setattr(stream, "poll_quiet", lambda pks: batches.append(len(pks)) or real_poll(pks))
    get_records = faults.spy("dynamodbstreams", "GetRecords")
    workers = Workers(monkeypatch)

    workers.run(150)
    aws.dynamodb.put_item(TableName="t1", Item=item(77, random.Random(7)))
    written_at = clock.monotonic()
    while not Document.objects.filter(collection_id=sources[1].collection_id, doc_id="item-00077").exists():
        workers.run(0.5)
    seen_after = clock.monotonic() - written_at
    workers.run(150 - seen_after)

    assert max(batches) == 2 and len(batches) <= 2 * 300 / timing.tick()  # a few tasks a tick, however many shards
    # Only the shard that found the change got a task of its own: one read (the records, then nothing), then
    # three polls 0.25, 0.5 and 1 s apart, before it is quiet again.
    assert workers.ran.count("read_shard") == 4
    per_shard_hour = len(get_records) / len(sources) * 3600 / 300
    assert 600 <= per_shard_hour <= 900  # polled every 5 s, within DynamoDB's budget
    assert seen_after <= timing.tick() + 1
    assert virtual_clock.sleeps and all(s <= timing.tick() for s in virtual_clock.sleeps)  # the clock's jumps
    for source in sources:
        assert_equal_to_table(source, aws.dynamodb)


def test_a_batch_skips_a_shard_another_worker_holds_and_hands_over_one_with_records(
    people, integration, aws, faults, no_queue
):
    sources = quiet_sources(people, integration, aws, 3)
    shards = list(Shard.objects.filter(source__in=sources).order_by("pk"))
    held_elsewhere = timezone.now() + timedelta(seconds=30)
    Shard.objects.filter(pk=shards[0].pk).update(leased_by="other", lease_expires_at=held_elsewhere)
    aws.dynamodb.put_item(TableName=sources[2].table_name, Item=item(99, random.Random(9)))
    get_records = faults.spy("dynamodbstreams", "GetRecords")
    before = {s.pk: s.last_read_at for s in shards}

    handed_over = stream.poll_quiet([s.pk for s in shards])

    assert handed_over == [shards[2].pk]  # it reads its records itself, through read_shard's commit
    assert len(get_records) == 2
    after = {s.pk: s for s in Shard.objects.filter(pk__in=before)}
    assert after[shards[0].pk].last_read_at == before[shards[0].pk] and after[shards[0].pk].leased_by == "other"
    assert after[shards[1].pk].last_read_at > before[shards[1].pk] and after[shards[1].pk].idle_polls == 8
    assert after[shards[2].pk].last_read_at == before[shards[2].pk] and not after[shards[2].pk].leased_by
    assert Document.objects.filter(collection_id=sources[2].collection_id).count() == 3  # not applied by the batch
    assert stream.read_shard(shards[2].pk) in {"idle", "more"}
    assert_equal_to_table(sources[2], aws.dynamodb)


def test_network_errors_are_retried_and_lose_nothing(people, integration, aws, faults, monkeypatch):
    import random

    from botocore.exceptions import EndpointConnectionError

    source = loaded(people, integration, aws)
    calls = {"n": 0}

    def first_two(params):
        calls["n"] += 1
        return calls["n"] <= 2

    fault = faults.network_error("dynamodbstreams", "GetRecords", EndpointConnectionError(endpoint_url="x"), first_two)
    for n in range(950, 960):
        aws.dynamodb.put_item(TableName="t", Item=item(n, random.Random(n)))
    follow(source, rounds=2)
    source.refresh_from_db()
    assert fault.hits == 2 and not source.error
    assert_equal_to_table(source, aws.dynamodb)


def test_a_shard_that_found_records_keeps_its_own_poll_even_at_a_slow_poll_frequency():
    """At a 2 s poll frequency a busy shard's next poll is 2 s away: the tick's batches (every 5 s) would
    poll it up to a tick late, so only a shard whose last poll found nothing is quiet."""
    from datetime import UTC, datetime, timedelta

    read = datetime(2026, 1, 1, tzinfo=UTC)
    busy = Shard(caught_up=True, idle_polls=0, last_read_at=read, not_before=read + timedelta(seconds=2))
    assert not stream.quiet(busy)
    idle = Shard(caught_up=True, idle_polls=1, last_read_at=read, not_before=read + timedelta(seconds=2))
    assert stream.quiet(idle)
