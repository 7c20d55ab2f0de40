"""Kept query results: what keeping a result costs over answering it, and memory while it is paged.

A result read page by page from its kept rows should hold one page in memory, however large the result:
the figure is the peak of Python's allocations (tracemalloc) while reading every page, against the peak
of answering the same query whole."""

from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, datetime

from django.contrib.auth import get_user_model

from collections_app.models import Collection, Document, Workspace
from console.models import Organisation
from queries.services import query_results_page, query_run, query_submit

DOCUMENTS = 100_000
PAGE = 1_000
SQL = "SELECT _id, n, tags, customer FROM commons.bench_pages"


def _seed() -> tuple[Organisation, object]:
    organisation = Organisation.objects.create(name="bench-pages")
    user = get_user_model().objects.create_user("bench-pages", "bench@pages.test", "x")
    workspace, _ = Workspace.objects.get_or_create(organisation=organisation, name="commons")
    collection = Collection.objects.create(workspace=workspace, name="bench_pages", status=Collection.Status.READY)
    applied = datetime(2026, 1, 1, tzinfo=UTC)
    Document.objects.bulk_create(
        (Document(collection=collection, doc_id=f"d{n:06}", size_bytes=120, event_time=applied,
                  body={"n": n, "tags": ["a", "b"], "customer": {"name": f"c{n % 97}", "tier": "gold"}})
         for n in range(DOCUMENTS)),
        batch_size=5000,
    )  # fmt: skip
    return organisation, user


def _seconds(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _peak_mb(work) -> float:
    """Measured apart from the time: tracemalloc slows Python several times over."""
    tracemalloc.start()
    work()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return peak


def main() -> None:
    organisation, user = _seed()
    answered = _seconds(lambda: query_run(organisation=organisation, sql=SQL))
    kept_query = []
    kept = _seconds(lambda: kept_query.append(query_submit(organisation=organisation, user=user, via="api", sql=SQL)))
    query = kept_query[0]

    def read_pages() -> None:
        for start in range(0, query.row_count, PAGE):
            assert len(query_results_page(query=query, start=start, count=PAGE)) == min(PAGE, query.row_count - start)

    paged = _seconds(read_pages)
    whole_peak = _peak_mb(lambda: query_run(organisation=organisation, sql=SQL))
    page_peak = _peak_mb(read_pages)
    print(f"Kept query results, {query.row_count:,} documents")
    print(
        f"  answered whole: {answered:.2f} s; run and kept for paging: {kept:.2f} s ({kept / answered:.2f}x); "
        f"read back in {query.row_count // PAGE} pages of {PAGE:,}: {paged:.2f} s"
    )
    print(f"  memory (Python's peak): the whole result {whole_peak:.1f} MB; reading every page {page_peak:.1f} MB")
