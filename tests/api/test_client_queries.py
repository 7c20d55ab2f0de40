"""Queries through Rockset's official client (2.1.2), as a migrated service sends them."""

from __future__ import annotations

import json

import pytest
from rockset.exceptions import BadRequestException
from rockset.models import QueryParameter, QueryRequestSql

from tests.queries.sample import BIG

pytestmark = pytest.mark.django_db(transaction=True)


def test_rs_sql_with_parameters_returns_the_documents(rs, orders):
    response = rs.sql("SELECT _id, customer.name AS name FROM commons.orders WHERE amount >= :min ORDER BY _id",
                      params={"min": 25})  # fmt: skip
    assert response.results == [{"_id": "2", "name": "Bob"}, {"_id": "3", "name": "cat"}]
    assert response.status == "COMPLETED" and response.collections == ["commons.orders"]
    assert [c.name for c in response.column_fields] == ["_id", "name"]


def test_queries_query_and_validate(rs, orders):
    sql = QueryRequestSql(
        query="SELECT status, COUNT(*) AS n FROM orders WHERE status = :s GROUP BY status",
        parameters=[QueryParameter(name="s", type="string", value="pending")],
    )
    assert rs.Queries.query(sql=sql).results == [{"status": "pending", "n": 2}]
    assert rs.Queries.validate(sql=sql).collections == ["commons.orders"]


def test_exact_numbers_survive_the_wire(rs, orders):
    raw = rs.Queries.query(sql=QueryRequestSql(query="SELECT big FROM orders WHERE _id = '4'"), _preload_content=False)
    assert str(BIG) in raw.data.decode()


def test_a_bad_query_raises_the_clients_exception_with_line_and_column(rs, orders):
    with pytest.raises(BadRequestException) as error:
        rs.sql("SELECT *\nFROM commons.secrets")
    body = json.loads(error.value.body)
    assert body["type"] == "INVALIDINPUT" and (body["line"], body["column"]) == (2, 6)


def test_rs_sql_describe(rs, orders):
    results = rs.sql("DESCRIBE commons.orders").results
    assert {"field": ["customer", "name"], "occurrences": 5, "total": 5, "type": "string"} in results


def test_rs_async_query_get_query_and_get_query_results(rs, orders, monkeypatch):
    from queries import tasks

    handed: list[int] = []
    monkeypatch.setattr(tasks.run_query, "delay", handed.append)
    response = rs.Queries.query(sql=QueryRequestSql(query="SELECT _id FROM orders ORDER BY _id"), _async=True)
    assert response.query_id and not response.results
    assert [q.query_id for q in rs.Queries.list_active_queries().data] == [response.query_id]
    tasks.run_query(handed.pop())
    info = rs.Queries.get_query(query_id=response.query_id).data
    assert info.status == "COMPLETED" and info.stats.result_set_document_count == 5
    page = rs.Queries.get_query_results(query_id=response.query_id, docs=3)
    assert [r["_id"] for r in page.results] == ["1", "2", "3"] and page.results_total_doc_count == 5
    rest = rs.Queries.get_query_results(query_id=response.query_id, cursor=page.pagination.next_cursor)
    assert [r["_id"] for r in rest.results] == ["4", "5"] and rest.pagination.next_cursor is None


def test_rs_max_initial_results_and_cancel(rs, orders, monkeypatch):
    from queries import tasks

    response = rs.Queries.query(sql=QueryRequestSql(query="SELECT _id FROM orders ORDER BY _id"), max_initial_results=2)
    assert [r["_id"] for r in response.results] == ["1", "2"] and response.pagination.next_cursor
    monkeypatch.setattr(tasks.run_query, "delay", lambda pk: None)
    queued = rs.Queries.query(sql=QueryRequestSql(query="SELECT _id FROM orders"), _async=True)
    assert rs.Queries.cancel_query(query_id=queued.query_id).data.status == "CANCELLED"
