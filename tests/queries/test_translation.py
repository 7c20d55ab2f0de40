"""The translator itself: a parsed tree is cached and shared between translations of the same text
(queries/dialect.py), so translating must leave it exactly as it was."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest import clock
from queries.dialect import parse
from queries.translate import translate, typed_parameter
from tests.queries import test_conformance, test_functions, test_relations

QUERIES = [sql for module in (test_conformance, test_functions, test_relations) for sql, _ in module.CASES]


def shape(tree):
    """Every node with its parent and its arguments' identities: what a translation must not change."""
    return [(id(node), id(node.parent), {k: id(v) for k, v in node.args.items()}) for node in tree.walk()]


@pytest.mark.parametrize("vendor", ["postgresql", "sqlite"])
def test_translating_leaves_the_shared_tree_as_it_was(vendor):
    parameters = {"s": typed_parameter("s", "string", "pending")}
    for sql in QUERIES:
        before = shape(parse(sql))
        translate(sql, vendor=vendor, resolve=lambda workspace, name: 1, parameters=parameters)
        assert shape(parse(sql)) == before, sql


def test_the_same_text_translates_to_the_same_sql_twice(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 1, 1, tzinfo=UTC))  # CURRENT_TIMESTAMP()
    parameters = {"s": typed_parameter("s", "string", "pending")}
    for sql in QUERIES:
        first = translate(sql, vendor="postgresql", resolve=lambda workspace, name: 7, parameters=parameters)
        second = translate(sql, vendor="postgresql", resolve=lambda workspace, name: 7, parameters=parameters)
        assert (first.sql, first.params) == (second.sql, second.params), sql
