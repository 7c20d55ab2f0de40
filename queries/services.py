"""The query layer's use cases, for the API and (later) the console's editor: validate and run a query in
one organisation. Names resolve only through that organisation's collections, so another organisation's
`commons.orders` is simply "not found", exactly like a collection that doesn't exist."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from prometheus_client import Counter, Histogram

from collections_app.models import Collection
from console.models import Organisation
from queries.errors import QueryError
from queries.run import MAX_ROWS, Rows, execute
from queries.sql import Resolver, Sql, Translation
from queries.translate import translate, typed_parameter

# /metrics (console/monitoring.py): queries that ran, and those refused or failed by Rockset's error type.
QUERY_SECONDS = Histogram(
    "millrace_query_duration_seconds", "How long queries took, translation included.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)  # fmt: skip
QUERY_ROWS = Histogram("millrace_query_rows", "Rows a query returned.", buckets=(0, 1, 10, 100, 1_000, 10_000, 100_000))
QUERY_ERRORS = Counter("millrace_query_errors", "Queries refused or failed, by Rockset's error type.", ["type"])

DEFAULT_TIMEOUT_MS = 30_000
MAX_TIMEOUT_MS = 300_000


def collection_resolver(organisation: Organisation) -> Resolver:
    def resolve(workspace: str, name: str) -> int | None:
        scoped = Collection.objects.for_organisation(organisation)
        return scoped.filter(workspace__name=workspace, name=name).values_list("pk", flat=True).first()

    return resolve


def bound_parameters(parameters: Iterable[Mapping[str, Any]]) -> dict[str, Sql]:
    """Rockset's `[{name, type, value}]` as bound values; a name given twice is a mistake worth saying."""
    bound: dict[str, Sql] = {}
    for parameter in parameters:
        name = str(parameter.get("name") or "")
        if not name:
            raise QueryError("Every query parameter needs a `name`.")
        if name in bound:
            raise QueryError(f"Parameter `{name}` is given twice.")
        bound[name] = typed_parameter(name, str(parameter.get("type") or "string"), parameter.get("value"))
    return bound


def query_translate(
    *, organisation: Organisation, sql: str, parameters: Iterable[Mapping[str, Any]] = (),
    default_row_limit: int | None = None,
) -> Translation:  # fmt: skip
    return translate(
        sql,
        vendor=connection.vendor,
        resolve=collection_resolver(organisation),
        parameters=bound_parameters(parameters),
        default_limit=default_row_limit,
        row_cap=MAX_ROWS,
    )


@dataclass
class QueryOutcome:
    """A finished query, with what Rockset's QueryResponse reports about it."""

    rows: Rows
    collections: list[str]
    elapsed_ms: int
    warnings: list[str] = field(default_factory=list)


def query_run(
    *, organisation: Organisation, sql: str, parameters: Iterable[Mapping[str, Any]] = (),
    default_row_limit: int | None = None, timeout_ms: int | None = None,
) -> QueryOutcome:  # fmt: skip
    """Translate and run synchronously; QueryError for anything the user can fix (or a timeout)."""
    timeout = min(timeout_ms or DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS)
    started = time.monotonic()  # real time: what the caller waited, as Rockset's stats report it
    try:
        translation = query_translate(
            organisation=organisation, sql=sql, parameters=parameters, default_row_limit=default_row_limit
        )
        rows = execute(translation, timeout_ms=timeout)
    except QueryError as error:
        QUERY_ERRORS.labels(error.type).inc()
        raise
    QUERY_SECONDS.observe(time.monotonic() - started)
    QUERY_ROWS.observe(len(rows.results))
    elapsed = int((time.monotonic() - started) * 1000)
    return QueryOutcome(rows=rows, collections=translation.collections, elapsed_ms=elapsed)
