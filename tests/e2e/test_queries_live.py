"""Async queries end to end: the official client against a live server, a real Celery worker running the
query, and DELETE stopping the statement the worker is running (another process's)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from celery import Celery
from celery import _state as celery_state
from django.db import connection
from rockset.models import QueryRequestSql

from console.services import api_key_create
from queries.models import Query
from tests.api.conftest import rockset_client
from tests.api.test_query_lifecycle import ENDLESS, STATEMENT_ACTIVE
from tests.processes import celery_worker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def rs(orders, live_server, broker, monkeypatch):
    """The live server's thread queues queries through Celery's default app: send them to the test broker."""
    producer = Celery("queries-e2e-producer", broker=broker, set_as_current=False)
    celery_state._get_current_app()
    for app in {celery_state.default_app, *celery_state._get_active_apps()} - {producer}:
        task = app.tasks.get("queries.tasks.run_query")
        if task is not None:
            monkeypatch.setattr(task, "delay", lambda pk: producer.send_task("queries.tasks.run_query", args=[pk]))
    _, key = api_key_create(user=orders.alice, organisation=orders.acme, name="scripts")
    return rockset_client(live_server.url, key)


def test_an_async_query_runs_on_the_worker_and_delete_stops_a_running_one(rs, broker, tmp_path):
    with celery_worker(broker, log=tmp_path / "worker.log"):
        sql = QueryRequestSql(query="SELECT status, COUNT(*) AS n FROM orders GROUP BY 1 ORDER BY 1")
        done = rs.Queries.query(sql=sql, _async=True)
        wait_for(lambda: rs.Queries.get_query(query_id=done.query_id).data.status == "COMPLETED", "the query")
        page = rs.Queries.get_query_results(query_id=done.query_id)
        assert page.results == [{"status": "cancelled", "n": 1}, {"status": "pending", "n": 2},
                                {"status": "shipped", "n": 2}]  # fmt: skip

        endless = rs.Queries.query(sql=QueryRequestSql(query=ENDLESS), _async=True, timeout_ms=300_000)
        wait_for(lambda: statement_running(endless.query_id), "the statement to run")
        assert rs.Queries.cancel_query(query_id=endless.query_id).data.status == "CANCELLED"
        # The statement would count for hours: the worker records how long it ran once it has stopped.
        wait_for(lambda: Query.objects.get(query_id=endless.query_id).elapsed_ms is not None, "the statement to stop")
        assert not statement_running(endless.query_id)
    assert Query.objects.get(query_id=endless.query_id).status == "CANCELLED"


def statement_running(query_id: str) -> bool:
    """RUNNING, and on PostgreSQL the worker's backend busy with it (the pid is recorded just before)."""
    query = Query.objects.get(query_id=query_id)
    if connection.vendor != "postgresql":
        return query.status == "RUNNING"
    with connection.cursor() as cursor:
        cursor.execute(STATEMENT_ACTIVE, [query.backend_pid or 0])
        row = cursor.fetchone()
    return bool(row) and row[0] == "active"
