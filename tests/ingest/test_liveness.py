"""Invariant 8 on a slow day: AWS calls slower than the lease, DescribeStream refused or throttled for
minutes, a worker stopped past its lease. Latency is injected at botocore's layer on the virtual clock
(production code unchanged); each drill ends with the documents equal to the table, and while it lasted
the stall was shown as such, never as "caught up"."""

from __future__ import annotations

import gzip
import io
import random

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from collections_app.models import Collection, Source
from ingest import budget, clock, liveness, stream, supervisor, timing
from ingest.models import CapacitySpend, ExportFile, ScanSegment, Shard
from integrations.aws import forget_all_cached
from integrations.models import Integration
from tests.ingest.engine import (
    Workers,
    assert_equal_to_table,
    create_source,
    follow,
    item,
    load,
    load_by_export,
    loaded,
    make_table,
)

LEASE = settings.MILLRACE_LEASE_SECONDS


def write_some(aws, start: int, count: int = 12) -> None:
    rng = random.Random(start)
    for n in range(start, start + count):
        aws.dynamodb.put_item(TableName="t", Item=item(n, rng))
    aws.dynamodb.delete_item(TableName="t", Key={"pk": {"S": "item-00003"}})


def unit_row(model, **filters):
    return model.objects.filter(**filters).values("leased_by", "lease_expires_at", "waiting_on").get()


def test_a_getrecords_slower_than_the_lease_keeps_its_lease_and_shows_what_it_waits_on(
    people, integration, aws, faults
):
    source = loaded(people, integration, aws)
    seen = []

    def meanwhile(params):
        row = unit_row(Shard, source=source)
        seen.append(row)
        assert row["lease_expires_at"] > clock.now(), "the lease lapsed under a working worker"

    faults.slow("dynamodbstreams", "GetRecords", 3 * LEASE, during=meanwhile)
    before = Source.objects.get(pk=source.pk).stream_records_applied
    write_some(aws, 500)
    follow(source, rounds=2)
    assert seen and seen[0]["waiting_on"] == "dynamodb:GetRecords" and seen[0]["leased_by"]
    source.refresh_from_db()
    assert not source.error and source.stream_records_applied == before + 13
    assert_equal_to_table(source, aws.dynamodb)


def test_a_getrecords_that_doesnt_answer_is_a_visible_stall_never_caught_up(people, integration, aws, faults):
    source = loaded(people, integration, aws)
    assert Source.objects.get(pk=source.pk).stream_lag_seconds == 0
    shown = []

    def meanwhile(params):
        liveness.check(Source.objects.get(pk=source.pk))
        current = Source.objects.get(pk=source.pk)
        shown.append((current.stalled, current.stream_lag_seconds))

    faults.slow("dynamodbstreams", "GetRecords", 2 * timing.STALL_SECONDS + 10, during=meanwhile)
    write_some(aws, 600)
    follow(source, rounds=1)
    stalled, lag = shown[0]
    assert "dynamodb:GetRecords has not answered for" in stalled and "min" in stalled
    assert lag and lag > timing.STALL_SECONDS  # behind, by what was really read: not "caught up"
    faults.faults.clear()
    follow(source)
    liveness.check(Source.objects.get(pk=source.pk))
    source.refresh_from_db()
    assert not source.stalled and source.stream_lag_seconds == 0
    assert_equal_to_table(source, aws.dynamodb)


def test_a_scan_page_slower_than_the_lease_is_not_lost(people, integration, aws, faults):
    def meanwhile(params):
        row = unit_row(ScanSegment, source__table_name="t", segment=params.get("Segment", 0))
        assert row["lease_expires_at"] > clock.now() and row["waiting_on"] == "dynamodb:Scan"

    scans = faults.slow("dynamodb", "Scan", 2 * LEASE, during=meanwhile)
    make_table(aws.dynamodb, "t", 40)
    source = create_source(people.acme, people.alice, integration, "t", rcu=40)
    load(source)
    source.refresh_from_db()
    assert scans and source.load_finished_at and source.items_loaded == 40  # every page once
    faults.faults.clear()
    assert_equal_to_table(source, aws.dynamodb)


def test_an_s3_getobject_slower_than_the_lease_is_not_lost(people, integration, aws, faults, exports):
    def meanwhile(params):
        if "/data/" in params["Key"]:
            assert unit_row(ExportFile, key=params["Key"])["lease_expires_at"] > clock.now()

    faults.slow("s3", "GetObject", 2 * LEASE, during=meanwhile)
    make_table(aws.dynamodb, "t", 20)
    source = create_source(people.acme, people.alice, integration, "t", method="export", may_enable_pitr=True)
    load_by_export(source)
    source.refresh_from_db()
    assert source.load_finished_at and source.items_loaded == 20 and not source.error
    faults.faults.clear()
    assert_equal_to_table(source, aws.dynamodb)


@pytest.mark.parametrize(
    "code",
    ["AccessDeniedException", "ThrottlingException"],
    ids=["denied", "throttled"],
)
def test_describestream_failing_for_minutes_is_shown_then_stops_and_emails_then_recovers(
    people, integration, aws, faults, mailoutbox, virtual_clock, code
):
    source = loaded(people, integration, aws)
    fault = faults.add("dynamodbstreams", "DescribeStream", code, status=403 if "Denied" in code else 400)
    write_some(aws, 700)
    # Every 30 virtual seconds for 20 minutes, a tick; the reads go on (the known shard is followed) while
    # discovery fails.
    shown: set[str] = set()
    for _ in range(int(20 * 60 / 30)):
        supervisor.tick()
        supervisor.discover_shards(source.pk)
        for shard in Shard.objects.filter(source=source, done=False):
            stream.read_shard(shard.pk)
        current = Source.objects.get(pk=source.pk)
        if current.error:
            break
        if current.stalled:
            shown.add(current.stalled)
            assert current.stream_lag_seconds != 0  # never "caught up" while the stream can't be listed
        virtual_clock.advance(30)
    current = Source.objects.get(pk=source.pk)
    assert fault.hits > 10
    assert any("dynamodb:DescribeStream failed" in s and code in s for s in shown), shown
    assert current.error.startswith("Stalled for 15 min") and code in current.error
    assert [m.subject for m in mailoutbox] == ["Millrace: commons.c stopped with an error"]
    faults.faults.clear()  # AWS answers again: the automatic retry picks it up
    virtual_clock.advance(2 * 60)
    supervisor.tick()
    assert not Source.objects.get(pk=source.pk).error
    follow(source)
    liveness.check(Source.objects.get(pk=source.pk))
    current = Source.objects.get(pk=source.pk)
    assert not current.stalled and current.stream_lag_seconds == 0
    assert_equal_to_table(source, aws.dynamodb)


def test_a_worker_stopped_past_its_lease_is_taken_over_and_its_late_commit_is_refused(
    people, integration, aws, faults, virtual_clock
):
    source = loaded(people, integration, aws)
    shard = Shard.objects.get(source=source)
    before = Source.objects.get(pk=source.pk).stream_records_applied
    write_some(aws, 800)
    outcomes: list[str] = []
    stopped = []

    def sigstop(params):
        if stopped:
            return  # worker-b's own calls
        stopped.append(True)
        virtual_clock.jump(3 * LEASE)  # stopped: its heartbeat doesn't beat, the lease lapses
        outcomes.append(stream.read_shard(shard.pk, owner="worker-b"))  # the other worker takes over

    faults.slow("dynamodbstreams", "GetRecords", 0, during=sigstop)
    assert stream.read_shard(shard.pk, owner="worker-a") == "lost"  # resumed: its read is stale, dropped
    assert outcomes == ["idle"]
    source.refresh_from_db()
    assert source.stream_records_applied == before + 13  # once, by worker-b
    assert_equal_to_table(source, aws.dynamodb)


def test_an_idle_shard_holds_no_worker_slot_and_costs_at_most_720_polls_an_hour(
    people, integration, aws, faults, monkeypatch, virtual_clock
):
    source = loaded(people, integration, aws, items=5)
    shard = Shard.objects.get(source=source)
    polls = faults.spy("dynamodbstreams", "GetRecords")
    workers = Workers(monkeypatch)
    supervisor.dispatch(Shard, shard.pk)
    virtual_clock.sleeps.clear()
    workers.run(5 * 60)
    # No task waited in its slot: the only sleeps are the clock's jumps to the next task or tick.
    assert workers.ran.count("read_shard") + workers.ran.count("poll_quiet_shards") == len(polls)
    assert all(s <= timing.tick() for s in virtual_clock.sleeps)
    # 5 s apart once quiet (after 0.25, 0.5, 1, 2 and 4 s): 60 in 5 minutes, 720 an hour.
    assert 300 / 5 <= len(polls) <= 300 / 5 + 5
    assert workers.ran.count("read_shard") <= 6  # then polled in the supervisor's batches


def test_a_slow_scan_calls_reservation_counts_until_it_is_answered(people, integration, aws, virtual_clock):
    make_table(aws.dynamodb, "t", 1)
    source = create_source(people.acme, people.alice, integration, "t", rcu=10)
    first = budget.reserve(source.pk, 10, 8)
    virtual_clock.advance(1.5)  # the call is still out: DynamoDB may charge it at any moment yet
    assert budget.reserve(source.pk, 10, 8, deadline=clock.monotonic() + 0.5) is None
    budget.settle(first, 8)  # answered now: it counts one more second from here
    virtual_clock.advance(0.9)
    assert budget.reserve(source.pk, 10, 8, deadline=clock.monotonic() + 0.05) is None
    virtual_clock.advance(0.2)
    assert budget.reserve(source.pk, 10, 8, deadline=clock.monotonic() + 0.05) is not None
    assert CapacitySpend.objects.filter(source=source, in_flight=True).count() == 1


def test_an_assume_role_refused_stops_the_shard_with_the_role_named(people, integration, aws, faults):
    source = loaded(people, integration, aws)
    from integrations import aws as aws_module

    aws_module.forget_cached_session(integration)
    faults.access_denied("sts", "AssumeRole", "sts:AssumeRole")
    follow(source, rounds=1)
    source.refresh_from_db()
    assert "sts:AssumeRole" in source.error and "integration “prod”" in source.error


def test_a_secret_this_worker_cant_decrypt_stops_with_the_reason(people, aws, settings):
    from cryptography.fernet import Fernet

    integration = Integration(
        organisation=people.acme, name="keys", scope="all", auth_method=Integration.AuthMethod.KEYS,
        access_key_id="AKIAIOSFODNN7EXAMPLE", status=Integration.Status.VALIDATED,
    )  # fmt: skip
    integration.set_secret_access_key("secret")
    integration.save()
    make_table(aws.dynamodb, "t", 5)
    source = create_source(people.acme, people.alice, integration, "t", rcu=10)
    settings.MILLRACE_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # another installation's key
    forget_all_cached()  # a worker process of its own: no client from before
    load(source)
    source.refresh_from_db()
    assert "can't be decrypted with this worker's MILLRACE_ENCRYPTION_KEYS" in source.error
    assert ScanSegment.objects.filter(source=source).count() == 0 or source.state == Source.State.INITIALIZING


def test_a_malformed_export_line_stops_with_the_file_and_line_named(people, integration, aws, faults, exports):
    def damage(params, response):
        if "/data/" in params["Key"]:
            lines = gzip.decompress(response["Body"].read()).splitlines(True)
            lines[2] = b'{"Item": {"pk": \n'
            response["Body"] = io.BytesIO(gzip.compress(b"".join(lines)))

    faults.rewrite("s3", "GetObject", damage)
    make_table(aws.dynamodb, "t", 20)
    source = create_source(people.acme, people.alice, integration, "t", method="export", may_enable_pitr=True)
    load_by_export(source)
    source.refresh_from_db()
    assert "s3://millrace-exports/exports/" in source.error and "line 3 is not a DynamoDB JSON item" in source.error
    assert Collection.objects.get(pk=source.collection_id).status == Collection.Status.CREATED


def test_timings_that_would_let_work_stall_unseen_are_refused_at_start(settings):
    settings.MILLRACE_TICK_SECONDS = 40
    settings.MILLRACE_LEASE_SECONDS = 30
    with pytest.raises(SystemCheckError, match="must be shorter than MILLRACE_LEASE_SECONDS"):
        call_command("check")


def test_the_heartbeat_renews_in_a_thread_of_its_own_on_the_real_clock():
    import threading

    beats = threading.Event()
    with clock.RealClock().every(0.01, beats.set):
        assert beats.wait(timeout=30)


def test_a_child_shard_just_found_at_a_rollover_is_not_a_stall(people, integration, aws, virtual_clock):
    """Found by the soak test: a child shard not read yet counted as waiting since the stream began."""
    source = loaded(people, integration, aws)
    virtual_clock.advance(10 * 60)  # live for ten minutes; the shard rolls over now
    parent = Shard.objects.get(source=source)
    Shard.objects.filter(pk=parent.pk).update(done=True, last_read_at=clock.now())
    Shard.objects.create(source=source, stream_arn=parent.stream_arn, shard_id="child", parent_shard_id=parent.shard_id)
    assert liveness.check(Source.objects.get(pk=source.pk)) == ""
    virtual_clock.advance(timing.STALL_SECONDS + 1)  # ...but a child nobody reads for a minute is one
    assert "child of" in liveness.check(Source.objects.get(pk=source.pk))


def test_a_worker_that_stopped_answering_is_a_stall_shown_by_whoever_looks(people, integration, aws, virtual_clock):
    """Found trying it on a busy machine: the supervisor runs in the worker, so a frozen worker can't
    record its own stall; the page, the API and the admin read it from the worker's last heartbeat."""
    from django.urls import reverse

    from api import present
    from console.models import Heartbeat
    from tests.conftest import client_for

    source = loaded(people, integration, aws)
    Heartbeat.objects.update_or_create(name="worker", defaults={"seen_at": clock.now()})
    assert not Source.objects.get(pk=source.pk).stall_reason
    virtual_clock.advance(155)  # SIGSTOP on the worker for 2 min 35 s
    current = Source.objects.get(pk=source.pk)
    assert current.stall_reason.startswith("No worker has answered for 2 min 35 s")
    assert current.stream_lag_seconds and current.stream_lag_seconds >= 155  # not "caught up"
    status = present.source(current)
    assert status["dynamodb"]["current_status"]["stalled"] == current.stall_reason
    assert status["status"]["message"].startswith("Stalled: No worker has answered")
    page = client_for(people.bob).get(reverse("collection_status", args=["commons", "c"])).content.decode()
    assert "Stalled" in page and "No worker has answered for 2 min 35 s" in page


def test_paused_is_not_caught_up_and_neither_is_a_resume_until_the_shards_are_read_again(
    people, integration, aws, virtual_clock
):
    from collections_app.services import source_pause, source_resume

    source = loaded(people, integration, aws)
    assert Source.objects.get(pk=source.pk).stream_lag_seconds == 0
    source_pause(source=Source.objects.get(pk=source.pk))
    assert Source.objects.get(pk=source.pk).stream_lag_seconds is None  # nothing is read: no figure
    virtual_clock.advance(50)
    source_resume(source=Source.objects.get(pk=source.pk))
    assert Source.objects.get(pk=source.pk).stream_lag_seconds >= 50  # read 50 s ago, at best
    follow(source)
    assert Source.objects.get(pk=source.pk).stream_lag_seconds == 0


def test_a_resumed_collection_is_not_called_stalled_for_the_time_it_was_paused(people, integration, aws, virtual_clock):
    from collections_app.services import source_pause, source_resume
    from ingest import liveness

    source = loaded(people, integration, aws, items=3)
    source_pause(source=Source.objects.get(pk=source.pk))
    virtual_clock.advance(75)  # longer than the stall bound: its shards were last read before the pause
    source_resume(source=Source.objects.get(pk=source.pk))
    assert liveness.stall_reason(Source.objects.get(pk=source.pk)) == ""
    virtual_clock.advance(timing.STALL_SECONDS + 1)  # and nothing read since: now it is a stall
    assert "1 min 1 s" in liveness.stall_reason(Source.objects.get(pk=source.pk))  # counted from the resume


def test_the_overview_counts_the_collections_that_are_stalled_or_stopped(people, integration, aws):
    from django.urls import reverse

    from tests.conftest import client_for

    source = loaded(people, integration, aws, items=3)
    overview = reverse("dashboard")
    assert "attention" not in client_for(people.alice).get(overview).content.decode()
    Source.objects.filter(pk=source.pk).update(stalled="No worker has answered for 2 min.")
    assert "1 needs attention" in client_for(people.alice).get(overview).content.decode()
    Source.objects.filter(pk=source.pk).update(stalled="", error="AWS refused dynamodb:GetRecords")
    assert "1 needs attention" in client_for(people.alice).get(overview).content.decode()
    assert "attention" not in client_for(people.carol).get(overview).content.decode()  # another organisation's
