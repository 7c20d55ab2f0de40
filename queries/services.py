"""The query layer's use cases, for the API, the console's editor and the workers: validate, run, keep,
page through and cancel a query in one organisation. Names resolve only through that organisation's
collections, so another organisation's `commons.orders` is simply "not found", exactly like a collection
that doesn't exist."""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from prometheus_client import Counter, Histogram
from sqlglot import exp

from collections_app.models import Collection, Workspace
from console.models import Organisation
from ingest import clock
from ingest.convert import dumps
from queries import tasks
from queries.describe import COLUMNS, describe, describe_target, is_describe, type_of
from queries.dialect import parse
from queries.errors import QueryError
from queries.models import RESULT_CHUNK, Query, QueryLambda, QueryResult, View, results_kept
from queries.run import MAX_ROWS, Assumed, NamesChanged, Rows, execute, vendor
from queries.sql import Resolver, Sql, Translation, ViewLookup
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


# Collection.objects.for_organisation(...).filter(workspace__name=..., name=...), written out: compiling the
# ORM's query cost more than the whole point lookup it resolves a name for (bench/sql_vs_hand.py).
RESOLVE_SQL = (
    f"SELECT c.{Collection._meta.pk.column} FROM {Collection._meta.db_table} c "
    f"JOIN {Workspace._meta.db_table} w ON w.{Workspace._meta.pk.column} = c.workspace_id "
    "WHERE w.organisation_id = %s AND w.name = %s AND c.name = %s AND c.status <> %s"
)


def collection_resolver(organisation: Organisation) -> Resolver:
    """A collection's id by name, or the id of the collection an alias names. Each name is looked up once
    per query: an alias switched while the query is translated still gives it one collection throughout."""
    seen: dict[tuple[str, str], int | None] = {}
    aliased = alias_resolver(organisation)

    def resolve(workspace: str, name: str) -> int | None:
        if (workspace, name) not in seen:
            found = collection_id(organisation, workspace, name)
            seen[workspace, name] = found if found is not None else aliased(workspace, name)
        return seen[workspace, name]

    return resolve


def collection_id(organisation: Organisation, workspace: str, name: str) -> int | None:
    """The organisation's live collection of that name (not an alias), in one plain query."""
    with connection.cursor() as cursor:
        cursor.execute(RESOLVE_SQL, [organisation.pk, workspace, name, str(Collection.Status.DELETED)])
        row = cursor.fetchone()
    return row[0] if row else None


def alias_resolver(organisation: Organisation) -> Resolver:
    """The collection an alias names (a live one, maybe in another workspace), each alias once per query."""
    seen: dict[tuple[str, str], int | None] = {}

    def resolve(workspace: str, name: str) -> int | None:
        if (workspace, name) not in seen:
            collections = Collection.objects.for_organisation(organisation)
            aliased = collections.filter(aliases__workspace__name=workspace, aliases__name=name)
            seen[workspace, name] = aliased.values_list("pk", flat=True).first()
        return seen[workspace, name]

    return resolve


def view_lookup(organisation: Organisation) -> ViewLookup:
    def view_sql(workspace: str, name: str) -> str | None:
        scoped = View.objects.for_organisation(organisation)
        return scoped.filter(workspace__name=workspace, name=name).values_list("query", flat=True).first()

    return view_sql


# What this process resolved: (organisation, workspace, name) → collection. Used only where the statement
# itself checks the ids still hold (run.py's _guarded, PostgreSQL), so a stale one costs a retry, never a
# wrong answer: it saves the point lookup a round trip of its own to resolve a name. Collections' names only:
# an alias is looked up by every query, so that a switch is seen by the next one.
_REMEMBERED: dict[tuple[int, str, str], int] = {}
REMEMBERED_MAX = 10_000


class RememberingResolver:
    """Names resolved from the process's memory where it can, fetched (and remembered) where it can't; the
    ids taken from memory are listed in `assumed` for the statement to check, every name a collection's in
    `resolved`, and `read_alias` says whether an alias was looked up."""

    def __init__(self, organisation: Organisation) -> None:
        self.organisation = organisation
        self.aliased = alias_resolver(organisation)
        self.assumed: dict[tuple[str, str], int] = {}
        self.resolved: dict[tuple[str, str], int] = {}
        self.read_alias = False

    def __call__(self, workspace: str, name: str) -> int | None:
        key = (self.organisation.pk, workspace, name)
        if key in _REMEMBERED:
            self.assumed[workspace, name] = self.resolved[workspace, name] = _REMEMBERED[key]
            return _REMEMBERED[key]
        found = collection_id(self.organisation, workspace, name)
        if found is None:
            self.read_alias = True
            return self.aliased(workspace, name)
        if len(_REMEMBERED) >= REMEMBERED_MAX:
            _REMEMBERED.clear()
        _REMEMBERED[key] = self.resolved[workspace, name] = found
        return found

    def assumptions(self, names: dict[tuple[str, str], int] | None = None) -> list[Assumed]:
        names = self.assumed if names is None else names
        return [(self.organisation.pk, ws, name, pk) for (ws, name), pk in names.items()]


def forget(assumed: list[Assumed]) -> None:
    """Names that no longer hold: resolved afresh by the next query that uses them."""
    for organisation, workspace, name, _ in assumed:
        _REMEMBERED.pop((organisation, workspace, name), None)


# Recent translations (PostgreSQL): (organisation, SQL, parameters, default LIMIT) → the statement and every
# name → collection it was translated with. A repeated query (a dashboard's, a Query Lambda's, an app's
# lookup) then skips sqlglot. Safe as a remembered name is: the statement checks that all those names
# still hold (run.py's _guarded), so a collection deleted or replaced is never read, only re-translated.
# Kept only if the translation looked up no alias (a switch is seen by the next query), opened no view (its
# SQL may have changed) and read no clock (Translation.repeatable).
_TRANSLATIONS: OrderedDict[tuple, tuple[Translation, list[Assumed]]] = OrderedDict()
TRANSLATIONS_MAX = 512
_TRANSLATIONS_LOCK = threading.Lock()


def _parameters_key(bound: Mapping[str, Sql]) -> tuple:
    """The bound parameters as a key; each value with its type (1 and Decimal('1') bind differently)."""
    return tuple((name, p.sql, p.kind, tuple((type(v), v) for v in p.params)) for name, p in sorted(bound.items()))


def _translation_to_run(
    organisation: Organisation, sql: str, bound: dict[str, Sql], default_row_limit: int | None, key: tuple
) -> tuple[Translation, list[Assumed]]:
    """The translation kept for `key`, with the names it assumes; else a new one, kept if it may be."""
    with _TRANSLATIONS_LOCK:
        kept = _TRANSLATIONS.get(key)
        if kept is not None:
            _TRANSLATIONS.move_to_end(key)
            return kept
    remembering = RememberingResolver(organisation)
    translation = _translate(organisation, sql, bound, default_row_limit, remembering)
    if translation.repeatable and not remembering.read_alias:
        with _TRANSLATIONS_LOCK:
            _TRANSLATIONS[key] = (translation, remembering.assumptions(remembering.resolved))
            if len(_TRANSLATIONS) > TRANSLATIONS_MAX:
                _TRANSLATIONS.popitem(last=False)
    return translation, remembering.assumptions()


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
    default_row_limit: int | None = None, resolve: Resolver | None = None,
) -> Translation:  # fmt: skip
    if is_describe(sql):
        _, label = describe_target(sql, collection_resolver(organisation))
        return Translation("", [], [], [label])
    return _translate(organisation, sql, bound_parameters(parameters), default_row_limit, resolve)


def _translate(
    organisation: Organisation, sql: str, bound: dict[str, Sql], default_row_limit: int | None,
    resolve: Resolver | None = None,
) -> Translation:  # fmt: skip
    return translate(
        sql,
        vendor=connection.vendor,
        resolve=resolve or collection_resolver(organisation),
        parameters=bound,
        default_limit=default_row_limit,
        row_cap=MAX_ROWS,
        view_sql=view_lookup(organisation),
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
    default_row_limit: int | None = None, timeout_ms: int | None = None, cancelled: Callable[[], bool] | None = None,
) -> QueryOutcome:  # fmt: skip
    """Translate and run synchronously; QueryError for anything the user can fix (or a timeout)."""
    timeout = min(timeout_ms or DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS)
    started = time.monotonic()  # real time: what the caller waited, as Rockset's stats report it
    try:
        if is_describe(sql):
            collection_id, label = describe_target(sql, collection_resolver(organisation))
            rows = Rows(describe(collection_id, timeout_ms=timeout), COLUMNS)
            return QueryOutcome(rows=rows, collections=[label], elapsed_ms=int((time.monotonic() - started) * 1000))
        bound = bound_parameters(parameters)
        if vendor() == "postgresql":
            key = (organisation.pk, sql, _parameters_key(bound), default_row_limit)
            translation, assumed = _translation_to_run(organisation, sql, bound, default_row_limit, key)
        else:
            key, assumed = None, []
            translation = _translate(organisation, sql, bound, default_row_limit)
        try:
            rows = execute(translation, timeout_ms=timeout, cancelled=cancelled, assumed=assumed)
        except NamesChanged:  # a collection remembered by name was deleted or replaced: resolve afresh
            with _TRANSLATIONS_LOCK:
                _TRANSLATIONS.pop(key, None)
            forget(assumed)
            translation = _translate(organisation, sql, bound, default_row_limit)
            rows = execute(translation, timeout_ms=timeout, cancelled=cancelled)
    except QueryError as error:
        QUERY_ERRORS.labels(error.type).inc()
        raise
    QUERY_SECONDS.observe(time.monotonic() - started)
    QUERY_ROWS.observe(len(rows.results))
    elapsed = int((time.monotonic() - started) * 1000)
    return QueryOutcome(rows=rows, collections=list(translation.collections), elapsed_ms=elapsed)


def parameter_names(sql: str) -> list[str]:
    """The `:name` parameters a query uses, each once, for the editor's parameter inputs; none when the SQL
    doesn't parse yet (running it will say where)."""
    try:
        tree = parse(sql)
    except QueryError:
        return []
    return list(dict.fromkeys(p.name for p in tree.find_all(exp.Placeholder) if p.name))


def column_fields(rows: Rows) -> list[dict[str, str]]:
    """Rockset's `column_fields`: each named column with the type of its first non-null value."""
    names = [n for n in rows.column_names if n != "*"]
    first = {n: next((r[n] for r in rows.results if r.get(n) is not None), None) for n in names}
    return [{"name": n, "type": type_of(first[n])} for n in names]


# Kept queries: the editor's history, the API's async and paginated queries.


def query_submit(
    *, organisation: Organisation, user: AbstractBaseUser, via: str, sql: str,
    parameters: Iterable[Mapping[str, Any]] = (), default_row_limit: int | None = None,
    timeout_ms: int | None = None, run_async: bool = False, query_lambda: QueryLambda | None = None,
    query_id: uuid.UUID | None = None,
) -> Query:  # fmt: skip
    """Record the query; run it now (its row then holds the outcome) or on a worker once the row is committed.
    `query_id`: the id the caller chose (the editor's, so that its Cancel button can name the query it is
    waiting for); a new one if it is taken."""
    if query_id is None or Query.objects.filter(query_id=query_id).exists():
        query_id = uuid.uuid4()
    query = Query.objects.create(
        organisation=organisation, user=user, via=via, sql=sql, parameters=list(parameters), query_id=query_id,
        default_row_limit=default_row_limit, timeout_ms=min(timeout_ms or DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS),
        query_lambda=query_lambda,
    )  # fmt: skip
    if run_async:
        transaction.on_commit(lambda: tasks.run_query.delay(query.pk))
        return query
    return query_execute(query.pk) or query


def query_execute(query_pk: int) -> Query | None:
    """Run a queued query and keep what it returned. A query cancelled before it starts is not run; one
    cancelled while it runs keeps its CANCELLED state (every change below is conditional on the state)."""
    query = Query.objects.select_related("organisation").filter(pk=query_pk).first()
    if query is None:
        return None
    started = Query.objects.filter(pk=query.pk, status=Query.Status.QUEUED).update(
        status=Query.Status.RUNNING, backend_pid=_backend_pid(), started_at=timezone.now()
    )
    if started:
        started_at = time.monotonic()
        outcome = _run_cancellable(query)
        if isinstance(outcome, QueryError):
            _record_failure(query, outcome, ran_ms=int((time.monotonic() - started_at) * 1000))
        else:
            _record_result(query, outcome)
    query.refresh_from_db()
    return query


CLIENT_TIMEOUT_MAX_MS = 120_000  # Rockset's most for async_options.client_timeout_ms: two minutes
WAIT_POLL_SECONDS = 0.05


def query_wait(*, query: Query, timeout_ms: int) -> Query:
    """An async query's state once it has finished or `timeout_ms` has passed, whichever comes first:
    Rockset's `client_timeout_ms`, for which the first answer waits before it says "still running"."""
    deadline = clock.monotonic() + min(timeout_ms, CLIENT_TIMEOUT_MAX_MS) / 1000
    query.refresh_from_db()
    while query.status in Query.UNFINISHED and clock.monotonic() < deadline:
        clock.sleep(WAIT_POLL_SECONDS)
        query.refresh_from_db()
    return query


def _run_cancellable(query: Query) -> QueryOutcome | QueryError:
    try:
        return query_run(
            organisation=query.organisation, sql=query.sql, parameters=query.parameters,
            default_row_limit=query.default_row_limit, timeout_ms=query.timeout_ms,
            cancelled=lambda: _cancel_requested(query.query_id),
        )  # fmt: skip
    except QueryError as error:
        return error
    except DatabaseError:
        # pg_cancel_backend stops whatever the process runs: a lookup before the statement, too.
        if _status_after_cancels(query) == Query.Status.CANCELLED:
            return QueryError("The query was cancelled.", type_="QUERY_CANCELLED")
        raise


def _status_after_cancels(query: Query) -> str:
    """The query's state once a cancel in flight has committed: query_cancel holds the row's lock while it
    stops the statement, so the runner can see its statement stop before it can see the cancel."""
    with transaction.atomic():
        return Query.objects.select_for_update().filter(pk=query.pk).values_list("status", flat=True).get()


def _record_failure(query: Query, error: QueryError, *, ran_ms: int) -> None:
    if error.type == "QUERY_CANCELLED" and _status_after_cancels(query) == Query.Status.CANCELLED:
        # How long it ran before it stopped: its statement has ended.
        Query.objects.filter(pk=query.pk).update(elapsed_ms=ran_ms)
        return
    failed = Query.objects.filter(pk=query.pk, status=Query.Status.RUNNING).update(
        status=Query.Status.ERROR, finished_at=timezone.now(), backend_pid=None, error_type=error.type,
        error_message=error.message, error_line=error.line, error_column=error.column, elapsed_ms=ran_ms,
    )  # fmt: skip
    if failed and query.query_lambda_id:  # the lambda's usage shows the failure an async caller can't see
        QueryLambda.objects.filter(pk=query.query_lambda_id).update(
            last_error_at=timezone.now(), last_error_message=error.message[:2000]
        )


def _record_result(query: Query, outcome: QueryOutcome) -> None:
    try:
        with transaction.atomic():
            finished = Query.objects.filter(pk=query.pk, status=Query.Status.RUNNING).update(
                status=Query.Status.COMPLETED, finished_at=timezone.now(), expires_at=timezone.now() + results_kept(),
                elapsed_ms=outcome.elapsed_ms, row_count=len(outcome.rows.results), backend_pid=None,
                collections=outcome.collections, column_fields=column_fields(outcome.rows),
            )  # fmt: skip
            if finished:
                QueryResult.objects.bulk_create(_result_rows(query, outcome.rows.results), batch_size=50)
    except DatabaseError:
        # A cancel that came as the statement ended reaches this update instead: the query is cancelled, as
        # asked; anything else is a real failure.
        if _status_after_cancels(query) != Query.Status.CANCELLED:
            raise


def _result_rows(query: Query, results: list[dict[str, Any]]) -> Iterator[QueryResult]:
    for start in range(0, len(results), RESULT_CHUNK):
        yield QueryResult.of(query, start, [dumps(d) for d in results[start : start + RESULT_CHUNK]])


def query_cancel(*, query: Query) -> bool:
    """Stop a queued or running query; False when it had already finished. On PostgreSQL the server process
    running the statement is told to cancel it; SQLite's progress handler notices the flag in the cache."""
    with transaction.atomic():
        # Locked (PostgreSQL) while the pid is read and the state changed: the runner can't finish the query
        # in between, so the pid is still that of the process running it (it clears it as it finishes).
        row = Query.objects.select_for_update().filter(pk=query.pk, status__in=Query.UNFINISHED).first()
        if row is None:
            return False
        Query.objects.filter(pk=row.pk).update(
            status=Query.Status.CANCELLED, finished_at=timezone.now(), backend_pid=None,
            error_type="QUERY_CANCELLED", error_message="The query was cancelled.",
        )  # fmt: skip
        cache.set(_cancel_key(query.query_id), True, timeout=MAX_TIMEOUT_MS // 1000 + 60)
        if row.backend_pid and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_cancel_backend(%s)", [row.backend_pid])
    query.refresh_from_db()
    return True


def query_results_page(*, query: Query, start: int, count: int) -> list[str]:
    """The documents at positions [start, start + count), as exact JSON text; read by position, so paging
    through a large result holds one page in memory."""
    if count <= 0:
        return []
    first = start - start % RESULT_CHUNK
    rows = QueryResult.objects.filter(query=query, position__gte=first, position__lt=start + count).order_by("position")
    texts: list[str] = []
    for row in rows:
        texts += row.texts()[max(start - row.position, 0) :]
    return texts[:count]


def query_results_all(*, query: Query) -> Iterator[str]:
    """Every kept document, in order, a run of rows at a time (for the downloads)."""
    for row in QueryResult.objects.filter(query=query).order_by("position").iterator(chunk_size=10):
        yield from row.texts()


def queries_forget_expired() -> int:
    """Drop the results whose time is up (the rows stay, as history); how many queries lost theirs."""
    expired = Query.objects.filter(expires_at__lte=timezone.now(), result_rows__isnull=False).distinct()
    ids = list(expired.values_list("pk", flat=True)[:1000])  # a bounded bite per run; the next run goes on
    QueryResult.objects.filter(query_id__in=ids).delete()
    return len(ids)


def _backend_pid() -> int | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _cancel_key(query_id: uuid.UUID) -> str:
    return f"query-cancelled:{query_id}"


def _cancel_requested(query_id: uuid.UUID) -> bool:
    return bool(cache.get(_cancel_key(query_id)))


def queries_fail_abandoned() -> int:
    """A query still RUNNING long after its timeout lost its worker (killed, redeployed): say so, rather than
    leave it running forever in the list."""
    cutoff = timezone.now() - timedelta(milliseconds=MAX_TIMEOUT_MS) - timedelta(minutes=1)
    return Query.objects.filter(status=Query.Status.RUNNING, started_at__lt=cutoff).update(
        status=Query.Status.ERROR, finished_at=timezone.now(), backend_pid=None, error_type="INTERNALERROR",
        error_message="The worker running this query stopped before it finished; run it again.",
    )  # fmt: skip
