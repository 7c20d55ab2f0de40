"""Lag alerts on the engine's virtual clock: emailed once when a collection falls behind, once when it has
caught up again, and shown on its page and in the API's current_status meanwhile."""

from __future__ import annotations

import random

from django.urls import reverse

from collections_app.models import Collection
from collections_app.services import source_pause, source_resume
from ingest import alerts, supervisor
from ingest.models import LagAlert
from tests.conftest import client_for
from tests.ingest.engine import follow, item, loaded


def subjects(mailoutbox) -> list[str]:
    return [m.subject for m in mailoutbox]


def test_a_paused_collection_alerts_once_past_a_minute_and_once_when_it_has_caught_up(
    people, integration, aws, mailoutbox, virtual_clock
):
    people.acme.notification_emails = "oncall@acme.test"
    people.acme.save()
    source = loaded(people, integration, aws, items=5)
    mailoutbox.clear()
    source_pause(source=source)
    virtual_clock.advance(30)
    supervisor.tick()
    assert mailoutbox == []  # 30 s behind: within the default minute

    virtual_clock.advance(40)
    supervisor.tick()
    virtual_clock.advance(60)
    supervisor.tick()
    assert subjects(mailoutbox) == ["Millrace: commons.c is behind its table"]
    email = mailoutbox[0]
    assert "oncall@acme.test" in email.to and "behind its table (paused)" in email.body
    assert "resume it on its page" in email.body

    source.refresh_from_db()
    source_resume(source=source)
    aws.dynamodb.put_item(TableName="t", Item=item(800, random.Random(2)))
    follow(source)
    page = client_for(people.alice).get(reverse("collection_detail", args=["commons", "c"])).content.decode()
    assert "behind since" not in page  # live again: the banner goes with the badge, before the tick clears it
    supervisor.tick()
    supervisor.tick()
    assert subjects(mailoutbox) == [
        "Millrace: commons.c is behind its table",
        "Millrace: commons.c has caught up again",
    ]
    # Behind from the pause (0 s) until the tick after the resume (130 s), though the alert was raised at 70 s.
    assert "it was behind for 2 min 10 s" in mailoutbox[1].body
    assert LagAlert.objects.get(source=source).raised_at is None


def test_the_threshold_is_per_collection(people, integration, aws, mailoutbox, virtual_clock):
    source = loaded(people, integration, aws, items=5)
    LagAlert.objects.create(source=source, behind_seconds=600)
    mailoutbox.clear()
    source_pause(source=source)
    virtual_clock.advance(300)
    supervisor.tick()
    assert mailoutbox == []
    virtual_clock.advance(301)
    supervisor.tick()
    assert subjects(mailoutbox) == ["Millrace: commons.c is behind its table"]
    assert "the alert is set at 10 min" in mailoutbox[0].body


def test_a_raised_alert_shows_on_the_page_and_in_the_api(people, integration, aws, virtual_clock):
    from console.services import api_key_create

    source = loaded(people, integration, aws, items=5)
    source_pause(source=source)
    virtual_clock.advance(120)
    alerts.check_all()
    page = client_for(people.bob).get(reverse("collection_detail", args=["commons", "c"])).content.decode()
    assert "Lag alert" in page and "behind its table (paused)" in page
    source.refresh_from_db()
    assert f"behind since {source.suspended_at:%-d %b %H:%M:%S}" in page  # when it fell behind, not when noticed
    # Who got the email, truly: the creator; the organisation has no notification addresses.
    assert "Its creator got one email" in page and "notification addresses got" not in page
    poll = (
        client_for(people.bob)
        .get(reverse("collection_status", args=["commons", "c"]), HTTP_HX_REQUEST="true")
        .content.decode()
    )  # what the page's polling swaps in: the alert and the Monitoring card's line follow it
    assert (
        "behind its table (paused)" in poll
        and 'id="lag-alert-state" hx-swap-oob="true"><span class="badge bad">' in poll
    )
    _, key = api_key_create(user=people.bob, organisation=people.acme, name="k")
    from django.test import Client

    response = Client().get("/v1/orgs/self/ws/commons/collections/c", HTTP_AUTHORIZATION=f"ApiKey {key}")
    status = response.json()["data"]["sources"][0]["dynamodb"]["current_status"]
    assert "behind its table" in status["lag_alert"] and status["lag_alert_since"]


def test_reading_nothing_for_five_minutes_while_the_stream_has_changes_raises_it(people, integration, aws):
    from datetime import timedelta

    from django.utils import timezone

    from ingest import lag

    source = loaded(people, integration, aws, items=5)
    now = timezone.now()
    source.stream_last_processed_at = source.stream_last_record_at = now - timedelta(minutes=6)
    patient = alerts.Thresholds(behind_seconds=3600)
    more_to_read = lag.Shards(open=2, caught_up=1, read=2, oldest_read=now - timedelta(minutes=6))
    why = alerts.reason(source, more_to_read, patient, now, worker_down=False)
    assert why == "No successful read of its stream for 6 min 0 s, while the stream has changes."
    everything_read = lag.Shards(open=2, caught_up=2, read=2, oldest_read=now - timedelta(minutes=6))
    assert alerts.reason(source, everything_read, patient, now, worker_down=False) == ""


def test_a_member_sets_the_collections_thresholds_on_its_page(people, integration, aws, mailoutbox, virtual_clock):
    source = loaded(people, integration, aws, items=5)
    page = reverse("collection_detail", args=["commons", "c"])
    bob = client_for(people.bob)
    assert "Change when this collection alerts" in bob.get(page).content.decode()
    url = reverse("collection_action", args=["commons", "c", "lag-alert"])
    response = bob.post(url, {"behind_seconds": "5", "unread_seconds": "600"}, follow=True)
    assert "The lag alert was not changed. Behind the table by:" in response.content.decode()
    assert not LagAlert.objects.filter(source=source).exists()

    bob.post(url, {"behind_seconds": "900", "unread_seconds": "600"})
    alert = LagAlert.objects.get(source=source)
    assert (alert.behind_seconds, alert.unread_seconds) == (900, 600)
    mailoutbox.clear()
    source_pause(source=source)
    virtual_clock.advance(120)
    supervisor.tick()
    assert mailoutbox == []  # two minutes behind: within this collection's 15


def test_the_replay_after_an_initial_load_is_no_alarm(people, integration, aws, mailoutbox, virtual_clock):
    """An export's replay starts minutes behind by nature: the page shows its catch-up, no alert is emailed."""
    people.acme.notification_emails = "oncall@acme.test"
    people.acme.save()
    source = loaded(people, integration, aws, items=5)
    source_pause(source=source)  # nothing read meanwhile: the lag only grows
    Collection.objects.filter(pk=source.collection_id).update(status=Collection.Status.CREATED)  # replaying
    mailoutbox.clear()
    virtual_clock.advance(300)
    supervisor.tick()
    assert mailoutbox == [] and not LagAlert.objects.filter(source=source, raised_at__isnull=False).exists()
    Collection.objects.filter(pk=source.collection_id).update(status=Collection.Status.PAUSED)  # live, paused
    supervisor.tick()
    assert subjects(mailoutbox) == ["Millrace: commons.c is behind its table"]
