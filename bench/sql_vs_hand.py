"""Rockset SQL through the query layer ÷ the same query written by hand against the documents table.

PostgreSQL only, over 1,000,000 orders and 10,000 customers generated in the database (INSERT ... SELECT
generate_series, the GIN index built after the load, then ANALYZE: what autovacuum leaves a loaded table).

What each side does, per run, on the same Django connection (psycopg 3's client-side-binding cursor, so
the simple query protocol and no server-side prepared statement on either side):
- ours: `queries.services.query_run`, what POST /v1/orgs/self/queries calls (its HTTP layer aside). A
  query seen before takes its translation from the process's memory (kept per organisation, SQL text and
  parameters; sqlglot is skipped); a new one resolves its names and is translated. Then one message:
  BEGIN READ ONLY; SET LOCAL statement_timeout; the statement, every value bound, with the names check
  in its WHERE (one call of the PL/pgSQL function millrace_name_holds per collection, whose plan the
  session keeps, in an InitPlan evaluated once before anything is read); ROLLBACK; sent through psycopg's
  cursor on Django's connection, Django's wrapper left out. The rows are read under the row and byte
  caps and built into Rockset documents (`_id`, `_event_time`, the body's fields, numbers exact), and
  the query's duration and row count are observed for /metrics.
- by hand: what a PostgreSQL expert would send through Django's psycopg connection for the same answer
  (the indexes used as they should be): `cursor.execute(sql, params)` in autocommit, one statement, one
  round trip, no transaction of its own, no timeout, no check; `fetchall()`, its JSON decoded.
Each figure is the median of several runs, both sides alternating; the issue's goal is a ratio of 1.3 or
less. A point lookup by `_id` takes a fraction of a millisecond by hand, so what ours adds to every query
(the read-only transaction, the names check, the documents, the metrics) weighs most there.

Memory: a 100,000-document result (MAX_ROWS, the most a query keeps) kept for paging (query_submit), then
read a page of 10,000 at a time:
the process's peak RSS before and after, as the operating system sees it."""

from __future__ import annotations

import gc
import json
import resource
import statistics
import time
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.db import connection

from collections_app.models import Collection, Workspace
from console.models import Organisation
from queries import run as runner
from queries.run import MAX_ROWS
from queries.services import query_results_page, query_run, query_submit, query_translate

ORDERS = 1_000_000
CUSTOMERS = 10_000
RUNS = 7
PAGED = MAX_ROWS  # the most one query keeps
PAGE = 10_000
GOAL = 1.3
TABLE = "collections_app_document"
INDEX = "document_body_path_ops"


def _seed() -> tuple[Organisation, int, int]:
    organisation = Organisation.objects.create(name="bench-sql")
    workspace, _ = Workspace.objects.get_or_create(organisation=organisation, name="commons")
    orders = Collection.objects.create(workspace=workspace, name="orders", status=Collection.Status.READY)
    customers = Collection.objects.create(workspace=workspace, name="customers", status=Collection.Status.READY)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # The GIN index is built once after the load: kept up row by row, it would triple the load's time.
        cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")
        cursor.execute(
            f"""INSERT INTO {TABLE} (collection_id, doc_id, body, size_bytes, event_time)
            SELECT %s, 'o' || lpad(n::text, 7, '0'),
              jsonb_build_object(
                'status', (ARRAY['pending', 'shipped', 'delivered', 'returned', 'cancelled'])[n %% 5 + 1],
                'amount', (n %% 1000) + 0.5,
                'customer', jsonb_build_object('id', 'c' || (n %% {CUSTOMERS}), 'tier', 't' || (n %% 1000)),
                'items', jsonb_build_array(
                  jsonb_build_object('sku', 's' || (n %% 50), 'qty', n %% 3 + 1),
                  jsonb_build_object('sku', 's' || ((n + 7) %% 50), 'qty', 1))),
              200, now()
            FROM generate_series(1, %s) AS n""",
            [orders.pk, ORDERS],
        )
        cursor.execute(
            f"""INSERT INTO {TABLE} (collection_id, doc_id, body, size_bytes, event_time)
            SELECT %s, 'c' || n,
              jsonb_build_object('name', 'customer ' || n, 'region', (ARRAY['eu', 'us', 'ap'])[n %% 3 + 1]),
              80, now()
            FROM generate_series(0, %s - 1) AS n""",
            [customers.pk, CUSTOMERS],
        )
        cursor.execute(f"CREATE INDEX {INDEX} ON {TABLE} USING gin (body jsonb_path_ops)")
        cursor.execute(f"VACUUM ANALYZE {TABLE}")
    Collection.objects.filter(pk=orders.pk).update(doc_count=ORDERS)
    Collection.objects.filter(pk=customers.pk).update(doc_count=CUSTOMERS)
    print(f"  {ORDERS + CUSTOMERS:,} documents generated in {time.perf_counter() - started:.0f} s")
    return organisation, orders.pk, customers.pk


def cases(orders: int, customers: int) -> list[tuple[str, str, str, list, tuple[int, ...]]]:
    """(label, Rockset SQL, hand-written PostgreSQL, its parameters, its JSON columns)."""
    return [
        ("point lookup by _id",
         "SELECT * FROM commons.orders WHERE _id = 'o0500000'",
         f"SELECT doc_id, body, event_time FROM {TABLE} WHERE collection_id = %s AND doc_id = 'o0500000'",
         [orders], (1,)),
        ("filter on a nested field",
         "SELECT _id, amount FROM commons.orders WHERE customer.tier = 't7'",
         f"""SELECT doc_id, body -> 'amount' FROM {TABLE}
             WHERE collection_id = %s AND body @> '{{"customer": {{"tier": "t7"}}}}'""",
         [orders], (1,)),
        ("GROUP BY a nested field",
         "SELECT o.customer.tier, COUNT(*) AS n FROM commons.orders o GROUP BY o.customer.tier",
         f"SELECT body -> 'customer' -> 'tier', count(*) FROM {TABLE} WHERE collection_id = %s GROUP BY 1",
         [orders], (0,)),
        ("UNNEST",
         "SELECT i.sku, SUM(i.qty) AS qty FROM commons.orders o CROSS JOIN UNNEST(o.items AS i) "
         "WHERE o.status = 'returned' GROUP BY i.sku",
         f"""SELECT i -> 'sku', sum((i ->> 'qty')::numeric) FROM {TABLE} d
             CROSS JOIN jsonb_array_elements(d.body -> 'items') AS i
             WHERE d.collection_id = %s AND d.body @> '{{"status": "returned"}}' GROUP BY 1""",
         [orders], (0,)),
        ("two-collection join",
         "SELECT c.region, COUNT(*) AS n FROM commons.orders o JOIN commons.customers c ON c._id = o.customer.id "
         "WHERE o.customer.tier = 't7' GROUP BY c.region",
         f"""SELECT c.body -> 'region', count(*) FROM {TABLE} o
             JOIN {TABLE} c ON c.collection_id = %s AND c.doc_id = o.body -> 'customer' ->> 'id'
             WHERE o.collection_id = %s AND o.body @> '{{"customer": {{"tier": "t7"}}}}' GROUP BY 1""",
         [customers, orders], (0,)),
    ]  # fmt: skip


def _hand(sql: str, params: list, json_columns: tuple[int, ...]) -> int:
    """Run plainly (autocommit, one statement, one round trip); its JSON decoded, as psycopg would hand it to
    an application (Django's connection hands jsonb over as text)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    for row in rows:
        for column in json_columns:
            json.loads(row[column])
    return len(rows)


def _timed_ms(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def ratios(organisation: Organisation, orders: int, customers: int) -> None:
    print(f"  query path: queries.services.query_run, what POST /queries runs (its HTTP layer aside); each figure the "
          f"median of {RUNS} or more runs, the two sides alternating")  # fmt: skip
    for label, rockset, hand, params, json_columns in cases(orders, customers):
        ours_run = lambda rockset=rockset: query_run(organisation=organisation, sql=rockset)  # noqa: E731
        hand_run = lambda hand=hand, params=params, json_columns=json_columns: _hand(hand, params, json_columns)  # noqa: E731
        rows = [len(ours_run().rows.results), hand_run()]  # warm-up: caches, plans, the parse cache
        first = _timed_ms(hand_run)
        runs = max(RUNS, min(500, int(1000 / max(first, 0.01))))  # fast queries: more runs against the noise
        ours, theirs = [], []
        for _ in range(runs):
            ours.append(_timed_ms(ours_run))
            theirs.append(_timed_ms(hand_run))
        ratio = statistics.median(ours) / statistics.median(theirs)
        mark = "ok" if ratio <= GOAL else "OVER"
        print(
            f"  {label:25} {statistics.median(ours):9.2f} ms ÷ {statistics.median(theirs):9.2f} ms by hand = "
            f"{ratio:5.2f}x (goal ≤ {GOAL}x: {mark}); rows {rows[0]:,} / {rows[1]:,}; {runs} runs"
        )


def floor(organisation: Organisation, orders: int) -> None:
    """Where the point lookup's time goes: the translated statement alone, then with each thing ours adds
    around it, all on the same connection, alternating, medians (CPU-bound steps, so a loaded machine
    stretches them all alike)."""
    label, rockset, hand, params, json_columns = cases(orders, 0)[0]
    translation = query_translate(organisation=organisation, sql=rockset)
    names = [(organisation.pk, "commons", "orders", orders)]
    sql, values = translation.sql, list(translation.params)
    guarded = runner._guarded(translation, names)

    def statement() -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
            cursor.fetchall()

    steps = {
        "by hand": lambda: _hand(hand, params, json_columns),
        "the translated statement alone": statement,
        "+ read-only transaction, timeout": lambda: runner._postgres(sql, values, 30_000, MAX_ROWS),
        "+ the names check in its WHERE": lambda: runner._postgres(*guarded, 30_000, MAX_ROWS),
        "query_run (+ documents, metrics)": lambda: query_run(organisation=organisation, sql=rockset),
    }
    times: dict[str, list[float]] = {step: [] for step in steps}
    for _ in range(300):
        for step, work in steps.items():
            times[step].append(_timed_ms(work))
    base = statistics.median(times["by hand"])
    print(f"  {label}, step by step (median of 300 each):")
    for step, measured in times.items():
        print(f"    {step:34} {statistics.median(measured):6.3f} ms = {statistics.median(measured) / base:4.2f}x")


def _rss_mb() -> float:
    """The process's resident memory now (Linux), not its high-water mark: keeping the result set that."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def paging(organisation: Organisation) -> None:
    user = get_user_model().objects.create_user("bench-sql", "bench@sql.test", "x")
    sql = f"SELECT _id, amount, customer FROM commons.orders WHERE _id <= 'o{PAGED:07}'"
    query = query_submit(organisation=organisation, user=user, via="api", sql=sql)
    if query.status != query.Status.COMPLETED:
        print(f"  paging: the query did not complete: {query.error_type} {query.error_message}")
        return
    gc.collect()
    before = peak = _rss_mb()
    started = time.perf_counter()
    read = 0
    for start in range(0, query.row_count, PAGE):
        page = query_results_page(query=query, start=start, count=PAGE)
        read += len(page)
        peak = max(peak, _rss_mb())  # with the page still held
    seconds = time.perf_counter() - started
    print(
        f"  paging {read:,} kept documents ({read // PAGE} pages of {PAGE:,}) in {seconds:.2f} s: RSS {before:.0f} MB "
        f"before, at most {peak:.0f} MB while paging (growth {peak - before:.1f} MB; goal: flat)"
    )


def main() -> None:
    if connection.vendor != "postgresql":
        print("SQL vs hand-written: PostgreSQL only (set DATABASE_URL)")
        return
    print(f"SQL through the query layer ÷ hand-written PostgreSQL, {ORDERS:,} orders and {CUSTOMERS:,} customers")
    organisation, orders, customers = _seed()
    ratios(organisation, orders, customers)
    floor(organisation, orders)
    paging(organisation)
