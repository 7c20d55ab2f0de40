"""Attempts to reach past the organisation's documents, each refused by the translator (names, statements,
functions) and, underneath, by the database (read-only, the SQLite authorizer, timeouts and caps)."""

from __future__ import annotations

import pytest
from django.db import connection

from collections_app.models import Collection, Document
from queries import run as runner
from queries.errors import QueryError
from queries.services import query_translate
from queries.sql import STAR, Column, Translation
from tests.queries.sample import add_collection

POSTGRES = connection.vendor == "postgresql"


def refused(run, sql: str) -> QueryError:
    with pytest.raises(QueryError) as error:
        run(sql)
    return error.value


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM commons.secrets",  # Globex's collection: not found, as if it didn't exist
        "SELECT * FROM secrets",
        "SELECT * FROM auth_user",
        "SELECT * FROM collections_app_document",
        "SELECT * FROM pg_catalog.pg_tables",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM sqlite_master",
        "SELECT * FROM main.sqlite_master",
    ],
)
def test_names_resolve_only_to_the_organisations_collections(run, sql):
    error = refused(run, sql)
    assert "not found" in error.message and (error.line, error.column) == (1, len("SELECT * FROM ") + 1)


@pytest.mark.parametrize(
    "sql",
    ["SELECT o._id FROM orders o, auth_user u", "SELECT o._id FROM orders o JOIN secrets s ON 1 = 1",
     "SELECT o._id FROM orders o LEFT JOIN commons.secrets s ON s._id = o._id"],
)  # fmt: skip
def test_a_join_reaches_only_the_organisations_collections(run, sql):
    assert "not found" in refused(run, sql).message


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT (SELECT password FROM auth_user LIMIT 1) FROM orders",
        "SELECT _id FROM orders WHERE _id IN (SELECT username FROM auth_user)",
        "SELECT _id FROM orders o WHERE EXISTS (SELECT 1 FROM commons.secrets s WHERE s._id = o._id)",
        "SELECT _id FROM (SELECT * FROM auth_user) AS t",
        "WITH t AS (SELECT * FROM secrets) SELECT * FROM t",
        "WITH t AS (SELECT * FROM orders) SELECT * FROM t, pg_catalog.pg_tables",
        "SELECT _id FROM orders UNION SELECT username FROM auth_user",
        "SELECT _id FROM orders UNION ALL (SELECT _id FROM orders UNION SELECT _id FROM secrets)",
        "SELECT x FROM orders o CROSS JOIN UNNEST(o.tags AS x) JOIN auth_user u ON 1 = 1",
    ],
)
def test_subqueries_ctes_and_unions_reach_only_the_organisations_collections(run, sql):
    assert "not found" in refused(run, sql).message


def test_fields_of_a_join_say_whose_they_are(run):
    assert "start it with the collection's alias" in refused(run, "SELECT status FROM orders, customers").message


def test_an_unknown_collection_is_reported_where_it_is_written(run):
    error = refused(run, "SELECT *\nFROM commons.orders o\n  WHERE o.x IN (1)\n  AND 1 = (SELECT 1 FROM nope)")
    assert (error.line, error.column, error.message) == (4, 26, "Collection 'commons.nope' not found.")
    error = refused(run, "SELECT *\n  FROM commons.nope")
    assert (error.line, error.column, error.message) == (2, 8, "Collection 'commons.nope' not found.")


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM orders",
        "UPDATE orders SET status = 'x'",
        "INSERT INTO orders VALUES (1)",
        "DROP TABLE orders",
        "CREATE TABLE t (a int)",
        "PRAGMA writable_schema = 1",
        "ATTACH DATABASE '/tmp/x' AS x",
        "SET statement_timeout = 0",
    ],
)
def test_only_select_is_run(run, sql):
    error = refused(run, sql)
    assert "Only SELECT" in error.message or "not supported" in error.message or "Syntax error" in error.message


def test_statements_cant_be_chained(run):
    assert "Only one statement" in refused(run, "SELECT _id FROM orders; DELETE FROM orders").message
    assert "Only one statement" in refused(run, "SELECT _id FROM orders;SELECT * FROM auth_user").message
    assert Document.objects.count() == 9


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT pg_sleep(10) FROM orders",
        "SELECT load_extension('x') FROM orders",
        "SELECT pg_read_file('/etc/passwd') FROM orders",
        'SELECT "a\'b" FROM orders',
        'SELECT "a%sb" FROM orders',
    ],
)
def test_anything_not_translated_is_refused(run, sql):
    error = refused(run, sql)
    assert "not supported" in error.message


def test_a_syntax_error_says_where(run):
    error = refused(run, "SELECT _id\nFROM orders WHERE (")
    assert error.message.startswith("Syntax error") and error.line == 2


def test_parameters_must_be_given_and_typed(run):
    assert "not given" in refused(run, "SELECT _id FROM orders WHERE status = :s").message
    with pytest.raises(QueryError, match="not a valid int"):
        run("SELECT _id FROM orders WHERE amount = :n", [{"name": "n", "type": "int", "value": "1; DROP"}])


# The database's own walls, tried with SQL the translator would never write


def raw(sql: str) -> Translation:
    return Translation(sql, [], [Column("*", STAR)])


@pytest.mark.skipif(POSTGRES, reason="SQLite's authorizer")
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id, username FROM auth_user",
        "SELECT name, sql FROM sqlite_master",
        "SELECT doc_id, size_bytes FROM collections_app_document",
        "SELECT doc_id, body FROM collections_app_document WHERE randomblob(10) IS NOT NULL",
        "DELETE FROM collections_app_document",
        "SELECT value, key FROM json_each((SELECT group_concat(sql) FROM sqlite_master))",
        "SELECT id, millrace_split(password, '') FROM auth_user",
    ],
)
def test_sqlite_lets_a_query_read_the_documents_columns_and_nothing_else(orders, sql):
    with pytest.raises(QueryError, match="something other than your collections"):
        runner.execute(raw(sql), timeout_ms=1000)
    assert Document.objects.count() == 9  # and the authorizer is gone again for Django's own queries


@pytest.mark.skipif(not POSTGRES, reason="PostgreSQL's read-only transaction")
def test_postgres_runs_the_query_read_only_and_leaves_the_callers_transaction_as_it_was(orders):
    with pytest.raises(QueryError, match="read-only transaction"):
        runner.execute(raw("DELETE FROM collections_app_document RETURNING doc_id, doc_id"), timeout_ms=1000)
    Document.objects.filter(doc_id="1").update(size_bytes=1)  # still writable afterwards
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


@pytest.mark.skipif(not POSTGRES, reason="PostgreSQL's statement_timeout")
def test_postgres_stops_a_query_at_its_timeout(orders):
    with pytest.raises(QueryError) as error:
        runner.execute(raw("SELECT 'x', 'y' FROM pg_sleep(2)"), timeout_ms=50)
    assert error.value.type == "QUERY_TIMEOUT"


@pytest.mark.skipif(POSTGRES, reason="SQLite's progress handler")
def test_sqlite_stops_a_query_at_its_timeout(orders, monkeypatch):
    monkeypatch.setattr(runner, "PROGRESS_STEPS", 1)
    endless = "SELECT a.doc_id, a.body FROM collections_app_document a, collections_app_document b, " + ", ".join(
        f"collections_app_document c{n}" for n in range(8)
    )
    with pytest.raises(QueryError) as error:
        runner.execute(raw(endless), timeout_ms=1)
    assert error.value.type == "QUERY_TIMEOUT", error.value.message


def test_a_result_over_the_row_cap_is_an_error_not_a_silent_cut(orders):
    translation = query_translate(organisation=orders.acme, sql="SELECT _id FROM orders")
    translation.params[-1] = 3  # the LIMIT the translator set: one over a cap of 2
    with pytest.raises(QueryError) as error:
        runner.execute(translation, timeout_ms=1000, row_cap=2)
    assert error.value.type == "RESOURCEEXCEEDED"


def test_a_result_over_the_byte_cap_is_an_error(orders, monkeypatch):
    monkeypatch.setattr(runner, "MAX_BYTES", 300)
    translation = query_translate(organisation=orders.acme, sql="SELECT * FROM orders")
    with pytest.raises(QueryError) as error:
        runner.execute(translation, timeout_ms=1000)
    assert error.value.type == "RESOURCEEXCEEDED" and "MB" in error.value.message


@pytest.mark.parametrize("vendor", ["postgresql", "sqlite"])
def test_every_string_in_a_query_is_a_bound_value(vendor):
    """Over every conformance query: each string literal reaches the database as a parameter, or not at all
    (a unit DATE_DIFF turns into a number); only a field name in brackets, `a['b']`, is SQL text, as a
    dotted name is, after SAFE_KEY."""
    from sqlglot import exp

    from queries.dialect import parse
    from queries.translate import translate, typed_parameter
    from tests.queries import test_conformance, test_functions, test_relations

    parameters = {"s": typed_parameter("s", "string", "pending")}
    for module in (test_conformance, test_functions, test_relations):
        for sql, _ in module.CASES:
            translation = translate(sql, vendor=vendor, resolve=lambda workspace, name: 1, parameters=parameters)
            bound = {str(p) for p in translation.params}
            for literal in parse(sql).find_all(exp.Literal):
                if not literal.is_string or isinstance(literal.parent, exp.Bracket):
                    continue
                spliced = f"'{literal.this}'" in translation.sql
                assert any(literal.this in b for b in bound) or not spliced, (sql, literal)


def test_a_query_runs_with_djangos_debug_cursor_on(run, orders):
    """DEBUG=True logs each statement with SQLite's QUOTE() while the authorizer is set."""
    from django.db import connection

    connection.force_debug_cursor = True
    try:
        assert run("SELECT _id FROM orders WHERE _id = :id", [{"name": "id", "type": "string", "value": "3"}]) == [
            {"_id": "3"}
        ]
    finally:
        connection.force_debug_cursor = False


def test_a_name_remembered_from_an_earlier_query_never_answers_for_another_collection(run, orders):
    """PostgreSQL remembers what names resolved to (a point lookup then costs one round trip); the statement
    checks the ids still hold, so a collection deleted, or replaced under its name, is never read."""
    assert run("SELECT _id FROM customers WHERE _id = 'Ann'") == [{"_id": "Ann"}]
    replaced = Collection.objects.get(workspace__organisation=orders.acme, name="customers")
    replaced.status = Collection.Status.DELETED
    replaced.name = "customers-deleted"
    replaced.save()
    with pytest.raises(QueryError) as error:
        run("SELECT _id FROM customers WHERE _id = 'Ann'")
    assert error.value.message == "Collection 'commons.customers' not found."
    add_collection(orders.acme, "commons", "customers", [{"id": "Ann", "city": "Bergen"}])
    assert run("SELECT city FROM customers WHERE _id = 'Ann'") == [{"city": "Bergen"}]
    assert run("SELECT city FROM customers WHERE _id = 'Ann'") == [{"city": "Bergen"}]  # remembered anew


def test_a_repeated_query_never_reads_a_collection_deleted_and_recreated_under_its_name(run, orders):
    """PostgreSQL keeps a repeated query's translation, collection ids included; the statement checks them."""
    sql = "SELECT city FROM customers WHERE _id = 'Ann'"
    assert run(sql) == run(sql) == [{"city": "Oslo"}]  # the second from the kept translation
    replaced = Collection.objects.get(workspace__organisation=orders.acme, name="customers")
    replaced.status, replaced.name = Collection.Status.DELETED, "customers-deleted"
    replaced.save()
    add_collection(orders.acme, "commons", "customers", [{"id": "Ann", "city": "Bergen"}])
    assert run(sql) == [{"city": "Bergen"}]
    assert run(sql) == [{"city": "Bergen"}]  # kept anew, for the new collection


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT o._id, c.city FROM orders o LEFT JOIN customers c ON c._id = o.customer.name WHERE o._id = '1'",
        "SELECT city FROM customers WHERE _id = 'Ann' UNION ALL SELECT status FROM orders WHERE _id = '3'",
        "SELECT (SELECT city FROM customers WHERE _id = 'Ann') AS city",
    ],
)
def test_a_repeated_query_reads_the_collection_now_under_each_name_wherever_it_names_it(run, orders, sql):
    """The kept statement checks its names once for the whole statement, before it reads anything: also a
    collection on the outer side of a join, in a UNION's second half, in a subquery of a query without FROM."""
    assert run(sql) == run(sql) and "Oslo" in str(run(sql))
    replaced = Collection.objects.get(workspace__organisation=orders.acme, name="customers")
    replaced.status, replaced.name = Collection.Status.DELETED, "customers-deleted"
    replaced.save()  # its documents stay until they are purged: a stale id would still find Ann in Oslo
    add_collection(orders.acme, "commons", "customers", [{"id": "Ann", "city": "Bergen"}])
    assert "Bergen" in str(run(sql)) and "Oslo" not in str(run(sql))


def test_a_repeated_query_through_an_alias_reads_the_collection_it_names_now(run, orders):
    from queries.lambdas import Author
    from queries.saved import alias_create, alias_switch

    add_collection(orders.acme, "commons", "customers-v2", [{"id": "Ann", "city": "Bergen"}])
    author = Author("alice@acme.test")
    alias = alias_create(organisation=orders.acme, workspace="commons", name="people",
                         collections=["commons.customers"], author=author)  # fmt: skip
    sql = "SELECT city FROM people WHERE _id = 'Ann'"
    assert run(sql) == run(sql) == [{"city": "Oslo"}]
    alias_switch(organisation=orders.acme, alias=alias, collections=["commons.customers-v2"])
    assert run(sql) == [{"city": "Bergen"}]


def test_a_repeated_query_over_a_view_reads_the_view_as_it_is_now(run, orders):
    from queries.lambdas import Author
    from queries.saved import view_create, view_update

    oslo = "SELECT _id FROM customers WHERE city = 'Oslo'"
    author = Author("a@acme.test")
    view = view_create(organisation=orders.acme, workspace="commons", name="oslo", query=oslo, author=author)
    sql = "SELECT _id FROM oslo"
    assert run(sql) == run(sql) == [{"_id": "Ann"}]
    view_update(organisation=orders.acme, view=view, query="SELECT _id FROM customers WHERE city = 'Rome'")
    assert run(sql) == [{"_id": "Bob"}]


def test_the_same_query_from_another_organisation_reads_that_organisations_collection(run, orders):
    from queries.services import query_run

    sql = "SELECT city FROM customers WHERE _id = 'Ann'"
    assert run(sql) == run(sql) == [{"city": "Oslo"}]
    add_collection(orders.globex, "commons", "customers", [{"id": "Ann", "city": "Quito"}])
    for _ in range(2):
        assert query_run(organisation=orders.globex, sql=sql).rows.results == [{"city": "Quito"}]
    assert run(sql) == [{"city": "Oslo"}]


def test_a_repeated_query_reads_the_clock_each_time(run, orders):
    sql = "SELECT CURRENT_TIMESTAMP AS now FROM customers WHERE _id = 'Ann'"
    assert run(sql) != run(sql)  # the engine's clock (virtual here) moves on between two queries
