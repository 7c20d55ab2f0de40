"""The collection page's 24-hour charts: drawn from the samples beat's tick takes once a minute."""

from __future__ import annotations

from django.urls import reverse

from collections_app import charts
from collections_app.services import source_pause
from ingest import alerts
from ingest.models import SourceSample
from tests.conftest import client_for
from tests.ingest.engine import follow, loaded


def test_each_minute_of_live_sync_is_one_point_and_a_pause_shows_the_lag_climbing(
    people, integration, aws, virtual_clock
):
    source = loaded(people, integration, aws, items=5)
    for _ in range(3):
        follow(source)  # the workers read the stream: caught up
        alerts.check_all()
        alerts.check_all()  # a second tick in the same minute writes nothing more
        virtual_clock.advance(60)
    source_pause(source=source)
    for _ in range(3):
        alerts.check_all()
        virtual_clock.advance(60)
    samples = list(SourceSample.objects.filter(source=source).values_list("behind_seconds", flat=True))
    assert len(samples) == 6
    assert samples[:3] == [0.0, 0.0, 0.0] and samples[3] < samples[4] < samples[5]

    lag, rate = charts.for_source(source.pk, virtual_clock.now())
    assert len(lag.lines) == 1 and len(lag.lines[0].split()) == 6
    assert lag.peak == "3 min 0 s"  # three minutes paused
    assert rate.peak == "0"

    page = client_for(people.bob).get(reverse("collection_detail", args=["commons", "c"])).content.decode()
    assert "Behind the table" in page and "<polyline points=" in page


def test_a_collection_without_live_sync_yet_says_so_instead_of_an_empty_chart(people, integration, aws):
    from tests.ingest.engine import create_source, make_table

    make_table(aws.dynamodb, "t", 3)
    create_source(people.acme, people.alice, integration, "t")
    page = client_for(people.bob).get(reverse("collection_detail", args=["commons", "c"])).content.decode()
    assert "one point a minute: nothing yet" in page and "<polyline" not in page
