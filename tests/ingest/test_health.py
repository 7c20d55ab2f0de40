"""The one mapping from the engine's state to what people and scripts see: each state forced on the rows,
then the badge's words and colour, the Rockset status the API reports, and the collections list's row."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from api import present
from collections_app.models import Collection, Source, Workspace
from ingest import clock, health, lifecycle, writer
from ingest.models import Shard
from integrations.models import Integration
from tests.conftest import ROLE_ARN, client_for


@pytest.fixture
def orders(people: SimpleNamespace) -> Source:
    integration = Integration.objects.create(
        organisation=people.acme, name="prod", scope="all", role_arn=ROLE_ARN, status=Integration.Status.VALIDATED
    )
    workspace = Workspace.objects.create(organisation=people.acme, name="commons")
    collection = Collection.objects.create(workspace=workspace, name="orders")
    return Source.objects.create(
        collection=collection, integration=integration, table_name="orders", region="us-east-1",
        load_method=Source.LoadMethod.SCAN, rcu=5, key_schema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )  # fmt: skip


def force(source: Source, *, status: str = Collection.Status.CREATED, **fields: object) -> Health:
    Source.objects.filter(pk=source.pk).update(**fields)
    Collection.objects.filter(pk=source.collection_id).update(status=status)
    collection = Collection.objects.get(pk=source.collection_id)
    return health.health(collection, Source.objects.get(pk=source.pk))


Health = health.Health


def streaming(source: Source, *, status: str, read_ago: float, record_ago: float | None, caught_up: bool) -> Health:
    now = clock.now()
    Shard.objects.create(
        source=source, stream_arn="arn:s", shard_id="shardId-1", caught_up=caught_up,
        last_read_at=now - timedelta(seconds=read_ago),
    )  # fmt: skip
    last_record = None if record_ago is None else now - timedelta(seconds=record_ago)
    loaded_at = now - timedelta(hours=1)
    Collection.objects.filter(pk=source.collection_id).update(last_updated_at=last_record)
    return force(
        source, status=status, state=Source.State.PROCESSING_STREAM, load_started_at=loaded_at,
        load_finished_at=loaded_at, stream_last_record_at=last_record,
    )  # fmt: skip


def test_a_source_waiting_for_a_worker_is_amber_and_created(orders):
    shown = force(orders)
    assert (shown.status, shown.colour, shown.words) == ("CREATED", "warn", "starting")
    assert shown.detail == "Waiting for a worker to start the initial load."


def test_a_scan_shows_its_progress_in_amber(orders):
    shown = force(orders, state=Source.State.SCANNING, items_expected=200, items_loaded=84, load_started_at=clock.now())
    assert (shown.status, shown.colour, shown.words) == ("CREATED", "warn", "scanning 42 %")
    assert "84 of about 200 items" in shown.detail


def test_an_export_in_progress_is_amber(orders):
    shown = force(orders, state=Source.State.EXPORTING_TO_S3)
    assert (shown.colour, shown.words) == ("warn", "exporting")


def test_the_replay_after_the_load_is_catching_up_in_amber_with_its_lag(orders):
    shown = streaming(orders, status=Collection.Status.CREATED, read_ago=1, record_ago=25 * 60, caught_up=False)
    assert (shown.status, shown.colour, shown.words) == ("CREATED", "warn", "catching up")
    assert "25 min behind" in shown.detail


def test_a_live_collection_behind_its_bound_is_red(orders):
    shown = streaming(orders, status=Collection.Status.READY, read_ago=1, record_ago=1176.3, caught_up=False)
    assert (shown.status, shown.colour, shown.words) == ("READY", "bad", "19 min behind")
    assert shown.needs_attention and "more than its bound of 1 min 0 s" in shown.detail


def test_a_live_collection_within_its_bound_is_green_with_its_lag_in_seconds(orders):
    shown = streaming(orders, status=Collection.Status.READY, read_ago=1, record_ago=3, caught_up=False)
    assert (shown.status, shown.colour, shown.words) == ("READY", "ok", "live")
    assert shown.detail == "Live: 3 s behind." and shown.lag_text == "3 s behind"


def test_a_quiet_table_says_since_when_it_has_not_changed(orders):
    shown = streaming(orders, status=Collection.Status.READY, read_ago=2, record_ago=600, caught_up=True)
    quiet_since = timezone.localtime(clock.now() - timedelta(seconds=600))
    assert (shown.colour, shown.words, shown.lag_text) == ("ok", "live", "caught up")
    assert shown.detail == f"Caught up; no changes since {quiet_since:%H:%M}."


def test_a_stopped_source_is_red_with_its_reason(orders):
    shown = force(orders, state=Source.State.SCANNING, error="AccessDenied: allow dynamodb:Scan", error_at=clock.now())
    assert (shown.status, shown.colour, shown.words) == ("CREATED", "bad", "error")
    assert shown.detail == "Stopped: AccessDenied: allow dynamodb:Scan"


def test_a_paused_collection_is_grey_and_paused_whatever_its_state(orders):
    streaming(orders, status=Collection.Status.READY, read_ago=1, record_ago=3, caught_up=True)
    lifecycle.pause(orders.pk)
    collection = Collection.objects.get(pk=orders.collection_id)
    shown = health.health(collection)
    assert (shown.status, shown.colour, shown.words) == ("PAUSED", "idle", "paused")
    assert shown.lag_text == ""  # nothing is read while paused: no lag to speak of


def test_the_api_reports_the_same_status_as_the_badge(orders):
    streaming(orders, status=Collection.Status.CREATED, read_ago=1, record_ago=25 * 60, caught_up=False)
    collection = Collection.objects.get(pk=orders.collection_id)
    assert present.collection(collection)["status"] == "CREATED"  # still replaying: not READY yet
    Collection.objects.filter(pk=orders.collection_id).update(status=Collection.Status.READY)
    assert present.collection(Collection.objects.get(pk=orders.collection_id))["status"] == "READY"


def test_the_list_and_the_overview_show_the_badge_and_never_count_a_deleted_collection(orders, people):
    streaming(orders, status=Collection.Status.READY, read_ago=1, record_ago=1500, caught_up=False)
    gone = Collection.objects.create(workspace=orders.collection.workspace, name="gone")
    Source.objects.create(collection=gone, integration=orders.integration, table_name="gone", region="us-east-1",
                          load_method="scan")  # fmt: skip
    lifecycle.delete(gone.pk)
    client = client_for(people.alice)
    listing = client.get(reverse("collection_list")).content.decode()
    assert '<span class="badge bad"' in listing and "25 min behind" in listing and "commons.gone" not in listing
    overview = client.get(reverse("dashboard")).content.decode()
    assert '<div class="stat">1</div>' in overview and "1 needs attention" in overview


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0.4, "0 s behind"), (3.2, "3 s behind"), (1176.3, "19 min behind"), (7500, "2 h 5 min behind")],
)
def test_lag_is_in_whole_human_units(seconds, words):
    assert health.lag_words(seconds) == words


def test_last_change_never_goes_backwards_while_older_changes_are_replayed(orders):
    now = clock.now()
    writer.apply(orders.collection_id, [writer.Change("a", '{"id": "a"}', now)])
    writer.apply(orders.collection_id, [writer.Change("b", '{"id": "b"}', now - timedelta(minutes=5))])
    collection = Collection.objects.get(pk=orders.collection_id)
    assert collection.last_updated_at == now and collection.doc_count == 2


def test_the_catch_up_after_a_load_says_how_long_it_has_to_go(orders):
    now = clock.now()
    Source.objects.filter(pk=orders.pk).update(stream_start_at=now - timedelta(minutes=40), stream_records_applied=1234)
    # 10 minutes after the load: 15 of the stream's minutes replayed (1.5 a minute), 25 minutes behind
    streaming(orders, status=Collection.Status.CREATED, read_ago=1, record_ago=25 * 60, caught_up=False)
    Source.objects.filter(pk=orders.pk).update(load_finished_at=now - timedelta(minutes=10))
    shown = health.health(Collection.objects.get(pk=orders.collection_id), Source.objects.get(pk=orders.pk))
    assert (shown.colour, shown.words) == ("warn", "catching up")
    assert shown.detail == (
        "Replaying the changes made during the load: 1,234 of about 3,291 changes replayed (37 %), 25 min behind; "
        "about 50 min 0 s to go."
    )


def catching_up(source: Source, *, changes_per_second: float, load_minutes: float, replayed_minutes: float,
                replay_minutes: float) -> health.Health:  # fmt: skip
    """The table changed at a steady pace from the stream's start position on; the load took `load_minutes`;
    the replay, running for `replay_minutes` since, has applied every change of the first `replayed_minutes`."""
    now = clock.now()
    start = now - timedelta(minutes=load_minutes + replay_minutes)
    reached = start + timedelta(minutes=replayed_minutes)
    applied = round(changes_per_second * replayed_minutes * 60)
    streaming(source, status=Collection.Status.CREATED, read_ago=1, record_ago=(now - reached).total_seconds(),
              caught_up=False)  # fmt: skip
    Source.objects.filter(pk=source.pk).update(
        stream_start_at=start, stream_records_applied=applied, load_finished_at=now - timedelta(minutes=replay_minutes)
    )
    return health.health(Collection.objects.get(pk=source.collection_id), Source.objects.get(pk=source.pk))


def test_the_catch_up_estimates_the_records_still_to_replay_from_the_tables_pace(orders):
    # 2 changes a second for 30 min: 3,600 changes; 2 min into the replay, the first 12 min are applied
    shown = catching_up(orders, changes_per_second=2, load_minutes=28, replayed_minutes=12, replay_minutes=2)
    assert (shown.status, shown.colour, shown.words) == ("CREATED", "warn", "catching up")
    replay = shown.replay
    assert (replay.applied, replay.remaining) == (1440, 2160)  # the 18 min not yet replayed, at 2 a second
    assert replay.words == "1,440 of about 3,600 changes replayed (40 %)"
    # 12 min of the stream in 2 min: 6 a minute, gaining 5 a minute on the 18 min behind
    assert replay.eta_seconds == pytest.approx(18 * 60 / 5)
    assert replay.eta_words == "about 3 min 36 s to go"


def test_a_replay_that_isnt_gaining_says_so_without_an_eta(orders):
    shown = catching_up(orders, changes_per_second=1, load_minutes=10, replayed_minutes=1, replay_minutes=2)
    assert shown.replay.eta_seconds is None and shown.replay.remaining == 660
    assert shown.detail.endswith("; not gaining on the table yet.")


def test_the_first_minute_of_the_replay_gives_no_eta(orders):
    # 20 s after the load, mostly spent listing the shards: that pace would promise minutes for seconds' work.
    shown = catching_up(orders, changes_per_second=2, load_minutes=5, replayed_minutes=0.2, replay_minutes=1 / 3)
    assert shown.replay.remaining is not None and shown.replay.eta_seconds is None
    assert shown.replay.eta_words == "" and "to go" not in shown.detail and "not gaining" not in shown.detail


def test_before_the_first_change_is_applied_the_catch_up_counts_without_guessing(orders):
    streaming(orders, status=Collection.Status.CREATED, read_ago=90, record_ago=None, caught_up=False)
    Source.objects.filter(pk=orders.pk).update(stream_start_at=clock.now() - timedelta(minutes=20))
    shown = health.health(Collection.objects.get(pk=orders.collection_id), Source.objects.get(pk=orders.pk))
    assert shown.words == "catching up"
    assert (shown.replay.remaining, shown.replay.eta_seconds, shown.replay.words) == (
        None, None, "0 changes replayed so far"
    )  # fmt: skip


def test_a_live_collection_has_no_catch_up(orders):
    shown = streaming(orders, status=Collection.Status.READY, read_ago=1, record_ago=25 * 60, caught_up=False)
    assert shown.replay is None


def test_the_collection_page_shows_the_catch_ups_progress(orders, people):
    catching_up(orders, changes_per_second=2, load_minutes=28, replayed_minutes=12, replay_minutes=2)
    client = client_for(people.alice)
    for url in (reverse("collection_detail", args=["commons", "orders"]),
                reverse("collection_status", args=["commons", "orders"])):  # fmt: skip
        page = client.get(url).content.decode()
        assert "<dt>Catch-up</dt>" in page and 'aria-valuenow="40"' in page
        assert "1,440 of about 3,600 changes replayed (40 %) · 18 min behind · about 3 min 36 s to go" in page
    Collection.objects.filter(pk=orders.collection_id).update(status=Collection.Status.READY)
    assert "Catch-up" not in client.get(reverse("collection_status", args=["commons", "orders"])).content.decode()


def test_the_apis_status_carries_the_catch_up_while_it_runs(orders):
    catching_up(orders, changes_per_second=2, load_minutes=28, replayed_minutes=12, replay_minutes=2)
    status = present.collection(Collection.objects.get(pk=orders.collection_id))["sources"][0]["dynamodb"]
    current = status["current_status"]
    assert (current["replay_records_applied"], current["replay_records_remaining"]) == (1440, 2160)
    assert current["replay_eta_seconds"] == 216 and current["stream_lag_ms"] == 18 * 60 * 1000
    Collection.objects.filter(pk=orders.collection_id).update(status=Collection.Status.READY)
    status = present.collection(Collection.objects.get(pk=orders.collection_id))["sources"][0]["dynamodb"]
    replay = {k: v for k, v in status["current_status"].items() if k.startswith("replay_")}
    assert replay == dict.fromkeys(["replay_records_applied", "replay_records_remaining", "replay_eta_seconds"])


def test_a_stream_read_but_not_yet_measured_says_it_is_being_read_not_waited_for(orders, people):
    """Between a load and the first figures from every shard, "last read" moves: the page says the shards
    are being read, not that it waits for them."""
    loaded_at = clock.now() - timedelta(minutes=1)
    status_page = reverse("collection_status", args=["commons", "orders"])
    force(orders, state=Source.State.PROCESSING_STREAM, load_started_at=loaded_at, load_finished_at=loaded_at)
    page = client_for(people.alice).get(status_page).content.decode()
    assert "waiting for the stream's shards" in page and "last read" not in page
    Source.objects.filter(pk=orders.pk).update(stream_last_processed_at=clock.now())
    page = client_for(people.alice).get(status_page).content.decode()
    assert "reading the stream's shards, not caught up yet" in page and "waiting for" not in page
