"""POST /v1/orgs/self/queries and /queries/validations over HTTP: Rockset's shapes, Rockset's errors."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from console.models import Membership
from console.services import api_key_create
from tests.queries.sample import BIG

QUERIES = "/v1/orgs/self/queries"


@pytest.fixture
def client(orders) -> Client:
    _, key = api_key_create(user=orders.alice, organisation=orders.acme, name="scripts")
    return Client(HTTP_AUTHORIZATION=f"ApiKey {key}")


def post(client: Client, path: str, body: dict):
    return client.post(path, json.dumps(body), content_type="application/json")


def test_a_query_answers_with_rockset_query_response(client):
    sql = "SELECT status, COUNT(*) AS n FROM commons.orders WHERE amount > :min GROUP BY status ORDER BY status"
    parameters = [{"name": "min", "type": "int", "value": "1"}]
    response = post(client, QUERIES, {"sql": {"query": sql, "parameters": parameters}, "timeout_ms": 5000})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["status"] == "COMPLETED" and body["query_id"] and body["collections"] == ["commons.orders"]
    assert body["results"] == [{"status": "cancelled", "n": 1}, {"status": "pending", "n": 1},
                               {"status": "shipped", "n": 2}]  # fmt: skip
    assert body["results_total_doc_count"] == 3
    assert body["column_fields"] == [{"name": "status", "type": "string"}, {"name": "n", "type": "int"}]
    assert isinstance(body["stats"]["elapsed_time_ms"], int) and body["query_errors"] == [] and body["warnings"] == []


def test_numbers_reach_the_client_with_every_digit(client):
    response = post(client, QUERIES, {"sql": {"query": "SELECT big, amount FROM orders WHERE _id IN ('4', '2')"}})
    assert str(BIG) in response.content.decode() and "25.5" in response.content.decode()


def test_the_default_row_limit_is_applied(client):
    response = post(client, QUERIES, {"sql": {"query": "SELECT _id FROM orders", "default_row_limit": 2}})
    assert len(response.json()["results"]) == 2


def test_a_syntax_error_is_rockset_error_body_with_line_and_column(client):
    response = post(client, QUERIES, {"sql": {"query": "SELECT _id\nFROM orders WHERE ("}})
    body = response.json()
    assert response.status_code == 400 and body["type"] == "INVALIDINPUT" and body["line"] == 2
    assert body["message"].startswith("Syntax error") and body["column"] and body["error_id"]


@pytest.mark.parametrize(
    ("sql", "word", "keyword", "place"),
    [("SELEC * FROM commons.orders", "SELEC", "SELECT", (1, 1)),
     ("SELECT * FORM commons.orders", "FORM", "FROM", (1, 10)),
     ("SELECT status, COUNT(*)\nFROM commons.orders\nGRUOP BY status", "GRUOP", "GROUP", (3, 1))],
)  # fmt: skip
def test_a_misspelled_keyword_is_pointed_at_not_where_the_parser_gave_up(client, sql, word, keyword, place):
    response = post(client, QUERIES, {"sql": {"query": sql}})
    body = response.json()
    assert response.status_code == 400 and body["type"] == "INVALIDINPUT"
    assert (body["line"], body["column"]) == place
    assert f"`{word}`" in body["message"] and f"did you mean {keyword}?" in body["message"]


def test_a_syntax_error_without_a_misspelling_points_at_the_start_of_the_token_it_stopped_at(client):
    body = post(client, QUERIES, {"sql": {"query": "SELECT _id FROM orders WHERE amount = = 1"}}).json()
    assert body["message"].startswith("Syntax error") and (body["line"], body["column"]) == (1, 39)


def test_another_organisations_collection_is_not_found_where_it_is_named(client):
    body = post(client, QUERIES, {"sql": {"query": "SELECT * FROM commons.secrets"}}).json()
    assert body["message"] == "Collection 'commons.secrets' not found." and (body["line"], body["column"]) == (1, 15)


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        ({}, "Missing field `sql`"),
        ({"sql": {}}, "Missing field `sql.query`"),
        ({"sql": {"query": 1}}, "`sql.query` must be a string"),
        ({"sql": {"query": "SELECT 1 FROM orders", "parameters": [{"name": "a"}]}}, "sql.parameters[0].type"),
        ({"sql": {"query": "SELECT 1 FROM orders"}, "timeout_ms": 0}, "`timeout_ms`"),
        ({"sql": {"query": "SELECT 1 FROM orders"}, "async": "yes"}, "`async` must be true or false"),
        ({"sql": {"query": "SELECT 1 FROM orders"}, "max_initial_results": 0}, "`max_initial_results` must be between"),
        ({"sql": {"query": "SELECT 1 FROM orders"}, "async_options": {"x": 1}}, "Unknown field `async_options.x`"),
        ({"sql": {"query": "SELECT 1 FROM orders", "nope": 1}}, "Unknown field `sql.nope`"),
    ],
)
def test_a_malformed_request_names_the_field(client, request_body, message):
    response = post(client, QUERIES, request_body)
    assert response.status_code == 400 and message in response.json()["message"]


def test_validation_resolves_and_translates_without_running(client):
    body = {"sql": {"query": "SELECT _id FROM orders WHERE status = :s", "parameters": [
        {"name": "s", "type": "string", "value": "shipped"}]}}  # fmt: skip
    response = post(client, f"{QUERIES}/validations", body)
    assert response.status_code == 200
    assert response.json() == {"collections": ["commons.orders"], "parameters": ["s"]}
    bad = post(client, f"{QUERIES}/validations", {"sql": {"query": "SELECT * FROM nope"}})
    assert bad.status_code == 400 and bad.json()["type"] == "INVALIDINPUT"


def test_a_read_only_members_key_may_query(orders):
    Membership.objects.filter(user=orders.bob).update(role="read_only")
    _, key = api_key_create(user=orders.bob, organisation=orders.acme, name="readonly")
    response = post(
        Client(HTTP_AUTHORIZATION=f"ApiKey {key}"), QUERIES, {"sql": {"query": "SELECT COUNT(*) FROM orders"}}
    )
    assert response.status_code == 200 and response.json()["results"] == [{"?COUNT": 5}]


def test_without_a_key_there_is_no_query(orders):
    response = post(Client(), QUERIES, {"sql": {"query": "SELECT * FROM orders"}})
    assert response.status_code == 401 and response.json()["type"] == "AUTHEXCEPTION"


def test_describe_answers_in_rocksets_shape(client):
    body = post(client, QUERIES, {"sql": {"query": "DESCRIBE commons.customers"}}).json()
    assert body["collections"] == ["commons.customers"]
    assert [c["name"] for c in body["column_fields"]] == ["field", "occurrences", "total", "type"]
    assert {"field": ["city"], "occurrences": 3, "total": 3, "type": "string"} in body["results"]
    validation = post(client, f"{QUERIES}/validations", {"sql": {"query": "DESCRIBE customers"}}).json()
    assert validation["collections"] == ["commons.customers"]


def test_queries_and_their_errors_are_counted_for_metrics(client, settings):
    from tests.scrape import scrape, value

    before = scrape(settings)
    post(client, QUERIES, {"sql": {"query": "SELECT _id FROM orders"}})
    post(client, QUERIES, {"sql": {"query": "SELECT _id\nFROM orders WHERE ("}})
    after = scrape(settings)
    ran = "millrace_query_duration_seconds_count"
    assert value(after, ran) == value(before, ran) + 1
    assert value(after, "millrace_query_rows_sum") > value(before, "millrace_query_rows_sum")
    errors = "millrace_query_errors_total"
    assert value(after, errors, type="INVALIDINPUT") == value(before, errors, type="INVALIDINPUT") + 1
