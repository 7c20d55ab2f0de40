"""DESCRIBE: Rockset's field paths, types and counts, on the examples of Rockset's own documentation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from queries.errors import QueryError
from tests.queries.sample import add_collection

SPECIAL = [
    {"field": ["_event_time"], "occurrences": 2, "total": 2, "type": "timestamp"},
    {"field": ["_id"], "occurrences": 2, "total": 2, "type": "string"},
]


def test_describe_counts_each_type_of_each_field_path_with_arrays_as_star(run, orders):
    add_collection(orders.acme, "commons", "names", [
        {"id": "1", "name": "John", "age": 31, "city": "New York"},
        {"id": "2", "name": "Michael", "age": "notfound", "experiences": [{"title": "XYZ", "years": 4}]},
    ])  # fmt: skip
    rows = run("DESCRIBE commons.names")
    assert rows == SPECIAL + [
        {"field": ["age"], "occurrences": 1, "total": 2, "type": "int"},
        {"field": ["age"], "occurrences": 1, "total": 2, "type": "string"},
        {"field": ["city"], "occurrences": 1, "total": 2, "type": "string"},
        {"field": ["experiences"], "occurrences": 1, "total": 2, "type": "array"},
        {"field": ["experiences", "*"], "occurrences": 1, "total": 1, "type": "object"},
        {"field": ["experiences", "*", "title"], "occurrences": 1, "total": 1, "type": "string"},
        {"field": ["experiences", "*", "years"], "occurrences": 1, "total": 1, "type": "int"},
        {"field": ["id"], "occurrences": 2, "total": 2, "type": "string"},
        {"field": ["name"], "occurrences": 2, "total": 2, "type": "string"},
    ]


def test_describe_tells_mixed_types_apart(run, orders):
    add_collection(orders.acme, "commons", "zipcodes", [
        {"id": "1", "zipcode": 94542}, {"id": "2", "zipcode": "91126"},
        {"id": "3", "zipcode": Decimal("94110.5")}, {"id": "4", "zipcode": "94020"},
    ])  # fmt: skip
    zipcode = [(r["type"], r["occurrences"], r["total"]) for r in run("DESCRIBE zipcodes") if r["field"] == ["zipcode"]]
    assert zipcode == [("float", 1, 4), ("int", 1, 4), ("string", 2, 4)]


def test_nested_fields_count_against_their_parent(run, orders):
    rows = {(tuple(r["field"]), r["type"]): (r["occurrences"], r["total"]) for r in run("DESCRIBE commons.orders")}
    assert rows[(("customer", "tier"), "string")] == (3, 5)
    assert rows[(("tags", "*"), "string")] == (3, 3)
    assert rows[(("note",), "null")] == (1, 5)


def test_describe_of_another_organisations_collection_is_not_found_where_it_is_named(run, orders):
    with pytest.raises(QueryError) as error:
        run("DESCRIBE\n  commons.secrets")
    assert error.value.message == "Collection 'commons.secrets' not found."
    assert (error.value.line, error.value.column) == (2, 3)


def test_describe_takes_one_collection(run, orders):
    with pytest.raises(QueryError, match="DESCRIBE takes one collection"):
        run("DESCRIBE SELECT 1")
