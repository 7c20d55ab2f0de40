"""What a Query Lambda, a view and an alias cost over the query they stand for.

A call by tag looks up the lambda, the tag and its version and merges the parameters before the query
runs; a view is inlined into the query as a derived table; an alias is one more lookup in name
resolution. Each is timed against the same query written out, in the same process, as a ratio (1.00 =
no cost); the medians of ROUNDS runs over a small collection, so the overhead is not hidden by the scan."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from collections_app.models import Collection, Document, Workspace
from console.models import Organisation
from queries import lambdas as ql
from queries import saved
from queries.services import query_run

DOCUMENTS = 2_000
ROUNDS = 60
SQL = "SELECT status, COUNT(*) AS n FROM commons.bench_orders WHERE placed_at > :since GROUP BY status"
SINCE = [{"name": "since", "type": "string", "value": "2026-01-01T12:00:00Z"}]


def _seed() -> Organisation:
    organisation = Organisation.objects.create(name="bench-lambdas")
    workspace, _ = Workspace.objects.get_or_create(organisation=organisation, name="commons")
    collection = Collection.objects.create(workspace=workspace, name="bench_orders", status=Collection.Status.READY)
    applied = datetime(2026, 1, 1, tzinfo=UTC)
    statuses = ["shipped", "pending", "cancelled", "returned"]
    Document.objects.bulk_create(
        (Document(collection=collection, doc_id=f"o{n:05}", size_bytes=80, event_time=applied,
                  body={"status": statuses[n % 4], "placed_at": f"2026-01-01T{n % 24:02}:00:00Z"})
         for n in range(DOCUMENTS)),
        batch_size=2000,
    )  # fmt: skip
    return organisation


def _median_ms(work: Callable[[], object]) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    organisation = _seed()
    author = ql.Author(email="bench@lambdas.test")
    version = ql.lambda_create(organisation=organisation, workspace="commons", name="counts", sql=SQL,
                               default_parameters=SINCE, author=author)  # fmt: skip
    ql.tag_set(query_lambda=version.query_lambda, tag="prod", version=version.version)
    saved.view_create(organisation=organisation, workspace="commons", name="bench_view",
                      query="SELECT status, placed_at FROM commons.bench_orders", author=author)  # fmt: skip
    saved.alias_create(organisation=organisation, workspace="commons", name="bench_alias",
                       collections=["commons.bench_orders"], author=author)  # fmt: skip

    def by_tag() -> None:
        row = ql.lambda_get(organisation=organisation, workspace="commons", name="counts")
        tagged = ql.tag_get(query_lambda=row, tag="prod").version
        query_run(organisation=organisation, sql=tagged.sql, parameters=ql.execution_parameters(tagged, SINCE))
        ql.usage_record(query_lambda=row, executed_by=author.email)

    def lookups() -> None:
        row = ql.lambda_get(organisation=organisation, workspace="commons", name="counts")
        ql.execution_parameters(ql.tag_get(query_lambda=row, tag="prod").version, SINCE)

    row = version.query_lambda
    direct = _median_ms(lambda: query_run(organisation=organisation, sql=SQL, parameters=SINCE))
    rows = [
        ("Query Lambda by tag (lookups, parameters, usage count)", _median_ms(by_tag)),
        ("through a view", _median_ms(lambda: query_run(
            organisation=organisation, sql=SQL.replace("bench_orders", "bench_view"), parameters=SINCE))),
        ("through an alias", _median_ms(lambda: query_run(
            organisation=organisation, sql=SQL.replace("bench_orders", "bench_alias"), parameters=SINCE))),
    ]  # fmt: skip
    print(f"Lambdas, views, aliases over {DOCUMENTS:,} documents, median of {ROUNDS} runs each")
    print(f"  the query written out: {direct:.2f} ms (baseline)")
    for label, median in rows:
        print(f"  {label}: {median:.2f} ms, {median / direct:.2f}× the baseline")
    print(
        f"  of which the lambda's lookups and parameters: {_median_ms(lookups):.2f} ms; its usage count (one row "
        f"update, committed): {_median_ms(lambda: ql.usage_record(query_lambda=row, executed_by='b')):.2f} ms"
    )
