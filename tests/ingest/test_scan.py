from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from collections_app.models import Collection, Source
from ingest import scan
from ingest.models import ScanSegment
from tests.ingest.engine import assert_equal_to_table, create_source, follow, item, load, make_table


def test_the_scan_fills_the_collection_equal_to_the_table(people, integration, aws, faults):
    faults.charge_like_dynamodb()
    make_table(aws.dynamodb, "t", 300, sort_key=True)
    source = create_source(people.acme, people.alice, integration, "t", rcu=40)
    load(source)
    source.refresh_from_db()
    # Planned for 1.5 s round trips: 40 RCU ÷ (1 + 1.5) = 16 RCU/s, offered half again (24 RCU/s), in pages
    # of a tenth of the budget (4 RCU), one page every 1.5 s per segment: ⌈24 × 1.5 ÷ 4⌉ segments.
    assert ScanSegment.objects.filter(source=source).count() == 9
    assert source.load_finished_at and source.items_loaded == 300 and source.rcu_consumed > 0
    assert source.state == Source.State.PROCESSING_STREAM
    assert_equal_to_table(source, aws.dynamodb)


def test_binary_keys_and_every_type_round_trip(people, integration, aws):
    make_table(aws.dynamodb, "bin", 60, binary_key=True)
    # At 1 RCU, one segment: moto can't assign a binary hash key to a segment of a parallel Scan.
    source = create_source(people.acme, people.alice, integration, "bin", rcu=1)
    load(source)
    assert_equal_to_table(source, aws.dynamodb)


@pytest.mark.parametrize("throttled", [False, True], ids=["calm", "throttled every 4th page"])
def test_the_budget_is_never_exceeded_in_any_second(people, integration, aws, faults, throttled):
    spent: list[tuple[float, float]] = []
    faults.charge_like_dynamodb(spent)
    if throttled:  # a throttled page costs nothing and its retry keeps within the budget too
        calls = {"n": 0}

        def every_fourth(params):
            calls["n"] += 1
            return calls["n"] % 4 == 0

        faults.add("dynamodb", "Scan", "ProvisionedThroughputExceededException", when=every_fourth)
    make_table(aws.dynamodb, "t", 160)  # ~40 RCU: five seconds and more of an 8 RCU budget
    source = create_source(people.acme, people.alice, integration, "t", rcu=8)
    load(source)
    faults.faults.clear()
    scans = list(spent)  # before the comparison below scans the table again
    worst = max(sum(u for t, u in scans if start <= t < start + 1.0) for start, _ in scans)
    assert worst <= 8, f"{worst} RCU spent within one second, budget 8"
    assert sum(u for _, u in scans) == pytest.approx(Source.objects.get(pk=source.pk).rcu_consumed)
    assert_equal_to_table(source, aws.dynamodb)


def test_throttling_backs_off_and_is_not_a_failure(people, integration, aws, faults):
    calls = {"n": 0}

    def every_third(params):
        calls["n"] += 1
        return calls["n"] % 3 == 0

    fault = faults.add("dynamodb", "Scan", "ProvisionedThroughputExceededException", when=every_third)
    make_table(aws.dynamodb, "t", 200)
    source = create_source(people.acme, people.alice, integration, "t", rcu=20)
    load(source)
    source.refresh_from_db()
    assert fault.hits > 3 and not source.error
    faults.faults.clear()
    assert_equal_to_table(source, aws.dynamodb)


def test_a_worker_killed_mid_segment_resumes_without_loss_or_duplicates(people, integration, aws, monkeypatch):
    make_table(aws.dynamodb, "t", 300)
    source = create_source(people.acme, people.alice, integration, "t", rcu=10)
    from ingest import initial_load, writer

    initial_load.start(source.pk)
    real_apply, pages = writer.apply, {"n": 0}

    def die_on_fifth_page(*args, **kwargs):
        pages["n"] += 1
        if pages["n"] == 5:
            raise SystemExit("worker killed")  # dies after reading a page, before committing it
        return real_apply(*args, **kwargs)

    monkeypatch.setattr("ingest.writer.apply", die_on_fifth_page)
    segment = ScanSegment.objects.filter(source=source).first()
    with pytest.raises(SystemExit):
        scan.run_segment(segment.pk, owner="dead-worker", slice_seconds=60)
    monkeypatch.setattr("ingest.writer.apply", real_apply)
    segment.refresh_from_db()
    assert segment.leased_by in ("", "dead-worker") and segment.pages == 4
    # Another worker can't take the segment until the dead one's lease lapses.
    ScanSegment.objects.filter(pk=segment.pk).update(
        leased_by="dead-worker", lease_expires_at=timezone.now() + timedelta(seconds=30)
    )
    assert scan.run_segment(segment.pk, owner="other") == "held"
    ScanSegment.objects.filter(pk=segment.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    load(source)
    assert_equal_to_table(source, aws.dynamodb)


def test_a_worker_whose_lease_was_taken_over_commits_nothing(people, integration, aws, monkeypatch):
    make_table(aws.dynamodb, "t", 50)
    source = create_source(people.acme, people.alice, integration, "t", rcu=10)
    from ingest import initial_load

    initial_load.start(source.pk)
    segment = ScanSegment.objects.filter(source=source).first()
    monkeypatch.setattr("ingest.leases.holds", lambda model, pk, owner: False)  # the lease lapsed mid-call
    assert scan.run_segment(segment.pk, owner="slow") == "lost"
    assert not Collection.objects.get(pk=source.collection_id).doc_count


def test_writes_during_the_scan_end_equal_after_the_stream_replay(people, integration, aws):
    make_table(aws.dynamodb, "t", 200)
    source = create_source(people.acme, people.alice, integration, "t", rcu=10)
    from ingest import initial_load

    initial_load.start(source.pk)
    segments = list(ScanSegment.objects.filter(source=source))
    scan.run_segment(segments[0].pk, slice_seconds=0.3)
    rng = random.Random(5)
    for n in rng.sample(range(200), 40):
        aws.dynamodb.put_item(TableName="t", Item=item(n, rng) | {"name": {"S": "changed during the scan"}})
    for n in rng.sample(range(200), 20):
        aws.dynamodb.delete_item(TableName="t", Key={"pk": {"S": f"item-{n:05d}"}})
    for n in range(500, 520):
        aws.dynamodb.put_item(TableName="t", Item=item(n, rng))
    load(source)
    follow(source)
    assert_equal_to_table(source, aws.dynamodb)
    assert Collection.objects.get(pk=source.collection_id).status == Collection.Status.READY


def test_access_denied_stops_with_a_message_and_emails_once(people, integration, aws, faults):
    faults.access_denied("dynamodb", "Scan", "dynamodb:Scan")
    make_table(aws.dynamodb, "t", 20)
    source = create_source(people.acme, people.alice, integration, "t", rcu=10)
    from ingest import initial_load

    initial_load.start(source.pk)
    for segment in ScanSegment.objects.filter(source=source):
        assert scan.run_segment(segment.pk) in ("failed", "stopped")
    source.refresh_from_db()
    assert "AWS refused dynamodb:Scan on table t in us-east-1" in source.error
    assert "integration “prod”" in source.error and "Retry" in source.error
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@acme.test"] and "stopped with an error" in mail.outbox[0].subject
    assert "dynamodb:Scan" in mail.outbox[0].body


def test_the_load_done_email_is_sent_once_with_its_facts(people, integration, aws, django_capture_on_commit_callbacks):
    make_table(aws.dynamodb, "t", 30)
    source = create_source(people.acme, people.alice, integration, "t", rcu=10)
    with django_capture_on_commit_callbacks(execute=True):
        load(source)
    assert len(mail.outbox) == 1
    from ingest import notify

    notify.load_done(source.pk)  # a second call (a retried task) sends nothing more
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "Millrace: the initial load of commons.c is done"
    assert message.to == ["alice@acme.test"]
    for text in [
        "commons.c",
        "Table:      t (us-east-1)",
        "Method:     Table Scan",
        "Documents:  30",
        "http://127.0.0.1:8000/collections/commons/c/",
    ]:
        assert text in message.body
    html_body = message.alternatives[0][0]
    assert "Open the collection" in html_body and "<td>30</td>" in html_body


def test_a_second_start_does_nothing(people, integration, aws, no_queue):
    make_table(aws.dynamodb, "t", 10)
    source = create_source(people.acme, people.alice, integration, "t", rcu=10)
    from ingest import initial_load

    initial_load.start(source.pk)
    segments = list(ScanSegment.objects.filter(source=source).values_list("pk", flat=True))
    initial_load.start(source.pk)
    assert segments and list(ScanSegment.objects.filter(source=source).values_list("pk", flat=True)) == segments
