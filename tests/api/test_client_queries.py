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
