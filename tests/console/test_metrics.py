"""/metrics: a bearer token of its own, never the console's session; /healthz and /readyz for probes."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from console.models import Heartbeat
from tests.conftest import client_for
from tests.scrape import TOKEN, scrape, value


def test_metrics_are_refused_to_everyone_while_no_token_is_set(people, settings):
    settings.MILLRACE_METRICS_TOKEN = ""
    for client in (Client(), client_for(people.alice)):
        response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ")
        assert response.status_code == 403
        assert "set MILLRACE_METRICS_TOKEN" in response.content.decode()


def test_metrics_want_the_token_not_a_session(people, settings):
    settings.MILLRACE_METRICS_TOKEN = TOKEN
    operator = client_for(people.alice)  # alice is the installation's operator
    for response in (
        operator.get("/metrics"),
        Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x"),
        Client().get("/metrics", HTTP_AUTHORIZATION=f"ApiKey {TOKEN}"),
    ):
        assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
        assert b"millrace_" not in response.content
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"bearer {TOKEN}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain; version=")


def test_web_requests_are_counted_by_view_and_status(people, settings):
    before = scrape(settings)
    client = client_for(people.bob)
    client.get("/collections/")
    client.get("/collections/nope/nothing/")
    after = scrape(settings)
    ok = {"view": "collection_list", "method": "GET", "status": "200"}
    missing = {"view": "collection_detail", "method": "GET", "status": "404"}
    assert value(after, "millrace_http_requests_total", **ok) == value(before, "millrace_http_requests_total", **ok) + 1
    assert value(after, "millrace_http_requests_total", **missing) == (
        value(before, "millrace_http_requests_total", **missing) + 1
    )
    count = "millrace_http_request_duration_seconds_count"
    assert value(after, count, view="collection_list") == value(before, count, view="collection_list") + 1


def test_healthz_answers_without_a_login(db):
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_is_ready_while_beat_ticks_and_unready_once_it_stops(db):
    Heartbeat.objects.create(name="worker", seen_at=timezone.now())
    response = Client().get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ready" and body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]

    Heartbeat.objects.filter(name="worker").update(seen_at=timezone.now() - timedelta(minutes=2))
    response = Client().get("/readyz")
    assert response.status_code == 503
    supervisor = response.json()["checks"]["supervisor"]
    assert not supervisor["ok"] and "is beat running" in supervisor["error"]


def test_readyz_is_unready_before_beat_ever_ticked(db):
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert "never run" in response.json()["checks"]["supervisor"]["error"]


def test_readyz_says_which_dependency_is_down_without_its_address(db, settings, monkeypatch):
    Heartbeat.objects.create(name="worker", seen_at=timezone.now())
    monkeypatch.setattr("console.monitoring.celery_app.conf.broker_url", "redis://:s3cret@127.0.0.1:1/0")
    response = Client().get("/readyz")
    assert response.status_code == 503
    broker = response.json()["checks"]["broker"]
    assert not broker["ok"] and "CELERY_BROKER_URL" in broker["error"] and "s3cret" not in response.content.decode()


def test_probes_answer_plain_http_where_everything_else_goes_to_https(db, settings):
    settings.SECURE_SSL_REDIRECT = True
    Heartbeat.objects.create(name="worker", seen_at=timezone.now())
    assert Client().get("/healthz").status_code == 200
    assert Client().get("/readyz").status_code == 200
    assert Client().get("/metrics").status_code == 301
    assert Client().get("/login/").status_code == 301


def test_the_broker_queues_depth_is_scraped(db, settings):
    from console.celery import app

    app.send_task("console.tasks.purge_deleted_collections", queue="celery")  # nobody consumes it here
    samples = scrape(settings)
    assert value(samples, "millrace_queue_messages", queue="celery") >= 1
    assert ("millrace_queue_messages", (("queue", "supervisor"),)) in samples
