"""Kept queries through the API: async on a worker, paging through a kept result, listing, cancelling."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection
from django.test import Client

from console.services import api_key_create
from queries import services, tasks
from queries.models import Query, QueryResult

QUERIES = "/v1/orgs/self/queries"
POSTGRES = connection.vendor == "postgresql"
# 5 documents joined with themselves 17 times: 5**17 rows to count, hours of work for either database.
ENDLESS = "SELECT COUNT(*) AS n FROM orders a " + " ".join(f"CROSS JOIN orders j{i}" for i in range(16))
JOIN_SECONDS = 120  # far beyond a cancelled query's end, far short of the statement's
# The process is running the documents statement itself (not a lookup before it, nor its SET LOCALs).
# The user's statement running on that server process (whatever aliases the translation gives the documents).
STATEMENT_ACTIVE = (
    "SELECT state FROM pg_stat_activity WHERE pid = %s AND query LIKE '%%FROM collections_app_document%%'"
)


@pytest.fixture
def client(orders) -> Client:
    _, key = api_key_create(user=orders.alice, organisation=orders.acme, name="scripts")
    return Client(HTTP_AUTHORIZATION=f"ApiKey {key}")


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """No worker here: record the queries handed to one; the test runs the task itself."""
    handed: list[int] = []
    monkeypatch.setattr(tasks.run_query, "delay", handed.append)
    return handed


def post(client: Client, body: dict) -> dict:
    return client.post(QUERIES, json.dumps(body), content_type="application/json").json()


def all_pages(client: Client, query_id: str, docs: int) -> list[dict]:
    results, cursor = [], ""
    for _ in range(10):  # five documents, two a page: three pages
        page = client.get(f"{QUERIES}/{query_id}/pages", {"cursor": cursor, "docs": docs}).json()
        results += page["results"]
        assert page["results_total_doc_count"] == 5
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            return results
    raise AssertionError("the pages never ended")


def test_an_async_query_runs_on_a_worker_and_its_results_are_read_by_pages(
    client, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        answer = post(client, {"sql": {"query": "SELECT _id, amount FROM orders ORDER BY _id"}, "async": True})
    assert answer["status"] == "QUEUED" and answer["results"] == []
    query_id = answer["query_id"]
    assert client.get(f"{QUERIES}/{query_id}").json()["data"]["status"] == "QUEUED"
    assert [q["query_id"] for q in client.get(QUERIES).json()["data"]] == [query_id]

    tasks.run_query(queued.pop())

    info = client.get(f"{QUERIES}/{query_id}").json()["data"]
    assert info["status"] == "COMPLETED" and info["executed_by"] == "alice@acme.test"
    assert info["stats"]["result_set_document_count"] == 5 and info["expires_at"]
    assert info["sql"] == "SELECT _id, amount FROM orders ORDER BY _id"
    assert client.get(QUERIES).json()["data"] == []  # only queued and running queries are listed
    assert [r["_id"] for r in all_pages(client, query_id, docs=2)] == ["1", "2", "3", "4", "5"]


def test_max_initial_results_answers_the_first_results_and_keeps_the_rest(client):
    answer = post(client, {"sql": {"query": "SELECT _id, big FROM orders ORDER BY _id"}, "max_initial_results": 2})
    assert [r["_id"] for r in answer["results"]] == ["1", "2"] and answer["results_total_doc_count"] == 5
    assert answer["pagination"]["current_page_doc_count"] == 2
    page = client.get(f"{QUERIES}/{answer['query_id']}/pages", {"cursor": answer["pagination"]["next_cursor"]})
    assert [r["_id"] for r in page.json()["results"]] == ["3", "4", "5"]
    assert "12345678901234567890123456789012345678" in page.content.decode()  # every digit, from the kept text
    assert page.json()["pagination"]["next_cursor"] is None


def test_an_async_query_that_fails_reports_rocksets_error(client, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        query_id = post(client, {"sql": {"query": "SELECT * FROM commons.secrets"}, "async": True})["query_id"]
    tasks.run_query(queued.pop())
    info = client.get(f"{QUERIES}/{query_id}").json()["data"]
    assert info["status"] == "ERROR"
    assert info["query_errors"] == [
        {"type": "INVALIDINPUT", "message": "Collection 'commons.secrets' not found.", "status_code": 400}
    ]
    body = client.get(f"{QUERIES}/{query_id}/pages").json()
    assert body["type"] == "INVALIDINPUT" and (body["line"], body["column"]) == (1, 15)


@pytest.mark.django_db(transaction=True)
def test_an_async_query_done_within_its_client_timeout_answers_with_its_results(client, monkeypatch):
    """async_options.client_timeout_ms: the first answer waits that long for the query (here a worker that
    runs it at once) and carries its results, paginated by max_initial_results as a synchronous one."""
    monkeypatch.setattr(tasks.run_query, "delay", services.query_execute)
    body = post(client, {"sql": {"query": "SELECT _id FROM orders ORDER BY _id"}, "async": True,
                         "async_options": {"client_timeout_ms": 5000, "max_initial_results": 2}})  # fmt: skip
    assert body["status"] == "COMPLETED" and body["results"] == [{"_id": "1"}, {"_id": "2"}]
    assert body["results_total_doc_count"] == 5 and body["pagination"]["next_cursor"]


def test_an_async_query_still_running_at_its_client_timeout_answers_with_its_id(
    client, queued, virtual_clock, django_capture_on_commit_callbacks
):
    started = virtual_clock.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        body = post(client, {"sql": {"query": "SELECT _id FROM orders"}, "async_options": {"client_timeout_ms": 3000}})
    assert body["status"] == "QUEUED" and body["results"] == [] and body["query_id"]
    assert 3.0 <= virtual_clock.monotonic() - started < 3.5  # it waited its client timeout, no longer
    tasks.run_query(queued.pop())  # the worker gets to it: the results are there to read
    assert client.get(f"{QUERIES}/{body['query_id']}").json()["data"]["status"] == "COMPLETED"


def test_a_client_timeout_over_two_minutes_is_refused(client):
    body = {"sql": {"query": "SELECT 1 AS one"}, "async": True, "async_options": {"client_timeout_ms": 120_001}}
    response = client.post(QUERIES, json.dumps(body), content_type="application/json")
    assert response.status_code == 400 and "client_timeout_ms" in response.json()["message"]


def test_a_queued_query_cancelled_never_runs(client, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        query_id = post(client, {"sql": {"query": "SELECT _id FROM orders"}, "async": True})["query_id"]
    cancelled = client.delete(f"{QUERIES}/{query_id}").json()["data"]
    assert cancelled["status"] == "CANCELLED" and cancelled["query_errors"][0]["type"] == "QUERY_CANCELLED"
    tasks.run_query(queued.pop())
    assert Query.objects.get(query_id=query_id).status == "CANCELLED" and not QueryResult.objects.exists()
    again = client.delete(f"{QUERIES}/{query_id}")
    assert again.status_code == 400 and "already finished" in again.json()["message"]


def test_another_organisations_query_is_not_found(client, orders):
    theirs = services.query_submit(organisation=orders.globex, user=orders.carol, via="api", sql="SELECT 1 FROM x")
    there = f"{QUERIES}/{theirs.query_id}"
    for response in (client.get(there), client.delete(there), client.get(f"{there}/pages"),
                     client.get(f"{QUERIES}/not-a-uuid")):  # fmt: skip
        assert response.status_code == 404 and response.json()["type"] == "NOTFOUND"


def test_a_cursor_that_was_not_given_is_refused(client):
    answer = post(client, {"sql": {"query": "SELECT _id FROM orders"}, "max_initial_results": 1})
    response = client.get(f"{QUERIES}/{answer['query_id']}/pages", {"cursor": "nonsense!"})
    assert response.status_code == 400 and "cursor" in response.json()["message"]


def test_expired_results_are_forgotten_and_say_so(client):
    answer = post(client, {"sql": {"query": "SELECT _id FROM orders"}, "max_initial_results": 1})
    Query.objects.update(expires_at="2020-01-01T00:00:00Z")
    tasks.forget_expired_results()
    assert not QueryResult.objects.exists()
    response = client.get(f"{QUERIES}/{answer['query_id']}/pages")
    assert response.status_code == 404 and "expired" in response.json()["message"]


def test_a_query_left_running_by_a_dead_worker_is_reported(orders):
    query = Query.objects.create(organisation=orders.acme, user=orders.alice, via="api", sql="SELECT 1",
                                 timeout_ms=1000, status="RUNNING", started_at="2020-01-01T00:00:00Z")  # fmt: skip
    tasks.forget_expired_results()
    query.refresh_from_db()
    assert query.status == "ERROR" and "worker" in query.error_message


@pytest.mark.django_db(transaction=True)
def test_delete_stops_the_running_database_statement(orders, queued):
    """The statement would run for minutes: DELETE stops it (pg_cancel_backend; SQLite's progress handler)."""
    query = services.query_submit(organisation=orders.acme, user=orders.alice, via="api", sql=ENDLESS,
                                  timeout_ms=services.MAX_TIMEOUT_MS, run_async=True)  # fmt: skip
    worker = threading.Thread(target=lambda: (services.query_execute(query.pk), connection.close()))
    worker.start()
    try:
        for _ in range(400):  # until the statement runs
            if _running(query):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the query never started")
        assert services.query_cancel(query=Query.objects.get(pk=query.pk))
    finally:
        worker.join(timeout=JOIN_SECONDS)
    assert not worker.is_alive()
    query.refresh_from_db()
    assert query.status == "CANCELLED" and query.error_type == "QUERY_CANCELLED" and query.backend_pid is None
    assert query.elapsed_ms is not None  # set by the worker once its statement stopped
    if POSTGRES:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
                "AND query LIKE '%%collections_app_document%%' AND pid <> pg_backend_pid()"
            )
            assert cursor.fetchone()[0] == 0


def _running(query: Query) -> bool:
    row = Query.objects.get(pk=query.pk)
    if row.status != "RUNNING":
        return False
    if not POSTGRES:
        return True
    with connection.cursor() as cursor:
        cursor.execute(STATEMENT_ACTIVE, [row.backend_pid])
        found = cursor.fetchone()
    return bool(found) and found[0] == "active"


def test_pages_cross_the_runs_the_result_is_kept_in(orders, monkeypatch):
    """Kept in runs of three here (a thousand in production): any page, at any offset, reads alike."""
    monkeypatch.setattr(services, "RESULT_CHUNK", 3)
    query = services.query_submit(organisation=orders.acme, user=orders.alice, via="api",
                                  sql="SELECT _id FROM orders ORDER BY _id")  # fmt: skip
    assert QueryResult.objects.filter(query=query).count() == 2
    ids = [json.loads(t)["_id"] for t in services.query_results_page(query=query, start=0, count=10)]
    assert ids == ["1", "2", "3", "4", "5"]
    for start in range(6):
        for count in range(7):
            page = services.query_results_page(query=query, start=start, count=count)
            assert [json.loads(t)["_id"] for t in page] == ids[start : start + count]


def test_a_cancel_that_stops_a_lookup_before_the_statement_is_still_a_cancel(orders, monkeypatch):
    from django.db import DatabaseError

    query = services.query_submit(organisation=orders.acme, user=orders.alice, via="api", sql="SELECT 1 FROM orders",
                                  run_async=True)  # fmt: skip

    def cancelled_midway(**kwargs):
        Query.objects.filter(pk=query.pk).update(status="CANCELLED")
        raise DatabaseError("canceling statement due to user request")

    monkeypatch.setattr(services, "query_run", cancelled_midway)
    assert services.query_execute(query.pk).status == "CANCELLED"

    other = services.query_submit(organisation=orders.acme, user=orders.alice, via="api", sql="SELECT 1 FROM orders",
                                  run_async=True)  # fmt: skip
    monkeypatch.setattr(services, "query_run", lambda **kwargs: (_ for _ in ()).throw(DatabaseError("disk full")))
    with pytest.raises(DatabaseError):  # not a cancel: a real failure, for the task's log
        services.query_execute(other.pk)
