"""The generated SQL uses the documents' indexes on PostgreSQL: `_id` through the (collection, doc_id) key,
`field = constant` through the GIN index on the body, over a collection of a few thousand documents."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from queries.services import query_translate
from tests.queries.sample import add_collection

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans")


@pytest.fixture
def events(orders):
    documents = [{"id": f"e{n}", "kind": f"k{n % 500}", "user": {"tier": f"t{n % 300}"}} for n in range(5000)]
    add_collection(orders.acme, "commons", "events", documents)
    with connection.cursor() as cursor:
        # What autovacuum does to a loaded table: GIN's pending list merged (until then the planner prices
        # the index as a scan of the list), and statistics.
        cursor.execute("SELECT gin_clean_pending_list('document_body_path_ops')")
        cursor.execute("ANALYZE collections_app_document")
    return orders


def plan(organisation, sql: str) -> str:
    translation = query_translate(organisation=organisation, sql=sql)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {translation.sql}", translation.params)
        lines = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    print(f"{sql}\n{lines}")
    return lines


def test_a_point_lookup_by_id_uses_the_collection_and_doc_id_key(events):
    assert "document_unique_per_collection" in plan(events.acme, "SELECT * FROM events WHERE _id = 'e42'")


def test_equality_on_a_nested_field_uses_the_gin_index(events):
    lines = plan(events.acme, "SELECT _id FROM commons.events e WHERE e.user.tier = 't7' AND kind = 'k7'")
    assert "document_body_path_ops" in lines and "@>" in lines


def test_the_remembered_names_check_leaves_a_parallel_plan_parallel(events):
    """The names check in the statement's WHERE (queries/run.py) is evaluated once by the leader: a statement
    PostgreSQL would run in parallel still runs in parallel with it (with parallelism made cheap here, the
    collection being small)."""
    from collections_app.models import Collection
    from queries import run as runner

    sql = "SELECT e.user.tier, COUNT(*) AS n FROM commons.events e GROUP BY e.user.tier"
    translation = query_translate(organisation=events.acme, sql=sql)
    events_id = Collection.objects.get(workspace__organisation=events.acme, name="events").pk
    checked, params = runner._guarded(translation, [(events.acme.pk, "commons", "events", events_id)])
    with transaction.atomic(), connection.cursor() as cursor:
        for setting in ("parallel_setup_cost", "parallel_tuple_cost", "min_parallel_table_scan_size"):
            cursor.execute(f"SET LOCAL {setting} = 0")
        cursor.execute(f"EXPLAIN {checked}", params)
        lines = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    assert "Gather" in lines and "One-Time Filter" in lines, lines
