"""A collection's history: what happened to it, newest first on its page, kept for a retention."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse

from collections_app.services import source_pause, source_resume, source_resync
from ingest import events, supervisor
from ingest.models import SourceEvent
from tests.conftest import client_for
from tests.ingest.engine import load, loaded


def kinds(source) -> list[str]:
    return list(SourceEvent.objects.filter(source=source).order_by("at", "pk").values_list("kind", flat=True))


def test_the_load_pauses_alerts_and_resyncs_are_written_down_and_shown(people, integration, aws, virtual_clock):
    source = loaded(people, integration, aws, items=5)
    source_pause(source=source)
    virtual_clock.advance(120)
    supervisor.tick()
    source.refresh_from_db()
    source_resume(source=source)
    source.refresh_from_db()
    source_resync(source=source)
    load(source)
    assert kinds(source) == [
        "load_started", "load_finished", "paused", "lag_alert", "resumed", "resync", "load_started", "load_finished",
    ]  # fmt: skip
    page = client_for(people.bob).get(reverse("collection_detail", args=["commons", "c"])).content.decode()
    assert "Initial load finished</strong> · 5 documents in" in page
    assert "Re-sync</strong> · asked for" in page
    assert page.index("Re-sync</strong>") < page.index("Paused</strong>")  # newest first


def test_an_error_is_written_down_with_its_message(people, integration, aws, faults):
    from tests.ingest.engine import follow

    source = loaded(people, integration, aws, items=5)
    faults.access_denied("dynamodbstreams", "GetRecords", "dynamodb:GetRecords")
    aws.dynamodb.delete_item(TableName="t", Key={"pk": {"S": "item-00001"}})
    follow(source, rounds=1)
    error = SourceEvent.objects.filter(source=source, kind="error").get()
    assert "Allow dynamodb:GetRecords" in error.message


def test_events_past_the_retention_are_purged(people, integration, aws, settings, virtual_clock):
    settings.MILLRACE_EVENT_RETENTION_DAYS = 30
    source = loaded(people, integration, aws, items=5)
    events.record(source.pk, events.Kind.PAUSED)
    virtual_clock.advance(timedelta(days=31).total_seconds())
    events.record(source.pk, events.Kind.RESUMED)
    assert events.purge_expired() == 3  # the load's two and the pause
    assert kinds(source) == ["resumed"]
