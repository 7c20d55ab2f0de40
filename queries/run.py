"""Running a translated query: read-only, time-limited, capped, on whichever database holds the documents.

The translator's whitelist is the first wall; this is the second, enforced by the database itself:
- PostgreSQL: a read-only transaction that is always rolled back, `statement_timeout` set LOCAL inside
  it, all sent with the statement in one message (BEGIN READ ONLY; SET ...; statement; ROLLBACK); inside
  a caller's transaction (a test's, a view's) a savepoint instead, `transaction_read_only` set LOCAL in
  it, whose rollback takes the settings with it, so that transaction is left as it was.
- SQLite: an authorizer that lets the statement read the documents table's three columns and call the
  functions the translator emits, nothing else (no other table, no sqlite_master, no PRAGMA, no writes);
  and a progress handler that interrupts it at the deadline. The deadline is wall-clock time on purpose:
  it bounds real work, like PostgreSQL's statement_timeout, not the engine's (virtual, in tests) clock.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.utils.dateparse import parse_datetime
from psycopg.pq import TransactionStatus

from queries import sqlite_functions
from queries.errors import QueryError
from queries.functions import CAST_FAILED
from queries.sql import BOOL, DOCUMENTS, IV, JSON, MI, STAR, TEXT, TIME, TIMES, Translation

MAX_ROWS = 100_000  # a synchronous result bigger than this is a mistake or needs paging (not built yet)
MAX_BYTES = 64 * 1024 * 1024
SQLITE_READABLE = {"doc_id", "body", "collection_id", "event_time", ""}  # "": the table is scanned, no column read
SQLITE_FUNCTIONS = {"json_extract", "json_type", "->", "typeof", "count", "sum", "avg", "min", "max",
                    "coalesce", "like", "lower", "upper", "length", "abs", "substr", "replace",
                    "json_array_length", "json_quote", "json", "json_array", "json_group_array", "json_each",
                    "json_remove", "json_patch",
                    "instr", "nullif", "round", "row_number", "rank", "dense_rank", "percent_rank", "cume_dist",
                    "first_value", "last_value", "nth_value", "lag", "lead", "trunc", "floor", "ceil", "power",
                    "group_concat",
                    *sqlite_functions.FUNCTIONS, *sqlite_functions.AGGREGATES, "millrace_cast_failed"}  # fmt: skip
TIME_FORMATS = {"timestamp": "%Y-%m-%dT%H:%M:%S.%fZ", "datetime": "%Y-%m-%dT%H:%M:%S.%f", "date": "%Y-%m-%d"}
# With DEBUG on, Django's cursor logs each statement with its parameters quoted by SQLite's QUOTE(), while
# the authorizer is still set: without it, every query failed under DEBUG. QUOTE only formats a value.
SQLITE_FUNCTIONS = SQLITE_FUNCTIONS | {"quote"}
PROGRESS_STEPS = 10_000  # SQLite virtual-machine instructions between two looks at the clock
CANCEL_POLL_SECONDS = 0.2  # SQLite: how often a running statement asks whether it was cancelled


@dataclass
class Rows:
    """What the statement returned, as Rockset's result documents."""

    results: list[dict[str, Any]]
    column_names: list[str]


def sqlite_authorizer(action: int, arg1: str | None, arg2: str | None, database: str | None, source: Any) -> int:
    if action == sqlite3.SQLITE_SELECT:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_READ and arg1 == DOCUMENTS and arg2 in SQLITE_READABLE:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_READ and arg1 == "json_each":  # the elements of a value the query holds
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in SQLITE_FUNCTIONS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


class NamesChanged(Exception):
    """A collection named by a remembered id is no longer that name's (deleted, or another in its place)."""


# (organisation, workspace, name, collection) that must all still hold, checked in the statement's message
Assumed = tuple[int, str, str, int]
NAMES_CHANGED = "millrace: collection names changed"  # what millrace_name_holds raises (queries/migrations/0005)
HOLDS = "millrace_name_holds(%s, %s, %s, %s)"
UTC_NAMES = ("UTC", "Etc/UTC")  # the session's TimeZone as the server reports it, when it needs no setting


@functools.cache
def vendor() -> str:
    """The documents' database ("postgresql", "sqlite"): fixed for the process by its settings, while each look
    through Django's `connection` proxy costs a point lookup as much as parsing its result's timestamp."""
    return connections[DEFAULT_DB_ALIAS].vendor


def execute(
    translation: Translation, *, timeout_ms: int, row_cap: int = MAX_ROWS, cancelled: Callable[[], bool] | None = None,
    assumed: list[Assumed] | None = None,
) -> Rows:  # fmt: skip
    """Run the statement and decode its rows; QueryError for a timeout, a cap, a cancel or a database refusal.

    `cancelled` is asked now and then while SQLite works (PostgreSQL's statement is cancelled from outside,
    with pg_cancel_backend); it also tells a cancel from a timeout once the database has stopped.
    `assumed`: collection ids the translation took from memory (PostgreSQL); checked by the statement itself,
    before it reads anything, NamesChanged if one no longer holds."""
    try:
        if vendor() == "postgresql":
            sql, params = _guarded(translation, assumed) if assumed else (translation.sql, list(translation.params))
            raw_rows = _postgres(sql, params, timeout_ms, row_cap)
        else:
            raw_rows = _sqlite(translation.sql, list(translation.params), timeout_ms, row_cap, cancelled)
    except DatabaseError as error:
        text = str(error)
        if NAMES_CHANGED in text:
            raise NamesChanged from None
        if "due to user request" in text or ("interrupted" in text and cancelled is not None and cancelled()):
            raise QueryError("The query was cancelled.", type_="QUERY_CANCELLED") from None
        if "statement timeout" in text or "interrupted" in text:
            raise QueryError(
                f"The query ran longer than its timeout of {timeout_ms:,} ms.", type_="QUERY_TIMEOUT"
            ) from None
        if CAST_FAILED in text or "user-defined function raised exception" in text:
            value = text.split(CAST_FAILED, 1)[1].split('"')[0] if CAST_FAILED in text else ""
            raise QueryError(
                f"CAST could not convert the value{f' {value!r}' if value else ''} to the type asked for; "
                "TRY_CAST(x AS type) gives null instead.",
                type_="QUERY_ERROR",
            ) from None
        if "not authorized" in text or "prohibited" in text:  # SQLite's words for what the authorizer denied
            raise QueryError("The query tried to read something other than your collections.") from None
        raise QueryError(f"The query failed: {text.splitlines()[0]}", type_="QUERY_ERROR") from None
    if len(raw_rows) > row_cap:
        raise QueryError(
            f"The result has more than {row_cap:,} rows, the most one query returns; add a LIMIT.",
            type_="RESOURCEEXCEEDED",
        )
    return Rows([_document(row, translation) for row in raw_rows], [c.name for c in translation.columns])


def _guarded(translation: Translation, assumed: list[Assumed]) -> tuple[str, list[Any]]:
    """The statement with a condition that fails unless every remembered id is still its name's collection, in
    its organisation, put in its top WHERE (Translation.guard_at): PostgreSQL evaluates it once, as an
    InitPlan, before the statement reads anything, and plans the statement as it would without it. The
    function keeps its own plan for the session (migration 0005); a separate statement in the message cost
    the server a parse, a plan and a result more."""
    if translation.guard_at is None:
        raise ValueError("A statement with remembered names needs a place for their check (Translation.guard_at).")
    at, index = translation.guard_at
    check = f" AND (SELECT {' AND '.join([HOLDS] * len(assumed))})"
    values = [value for names in assumed for value in names]
    params = translation.params
    return translation.sql[:at] + check + translation.sql[at:], [*params[:index], *values, *params[index:]]


def _postgres(sql: str, params: list[Any], timeout_ms: int, row_cap: int) -> list[tuple]:
    """The settings and the statement go in one message: Django's client-side cursor sends a simple query,
    in which several statements may follow each other, so a point lookup costs one round trip, not five
    (BEGIN, the SET, the statement, ROLLBACK). The translator emits one statement with every value bound,
    so nothing of the user's can follow it. ISO 8601 text without a zone is UTC, as in Rockset: the session
    is UTC already (Django sets it; the server reports each change of it), else it is set LOCAL too.
    Outside a caller's transaction the statement goes through psycopg's own cursor (Django's wrapper cost a
    point lookup a tenth of its time), its errors turned into Django's as the wrapper turns them; Django's
    cursor still runs it when queries are logged (DEBUG), so that it is logged."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each look through Django's `connection` proxy costs
    settings = f"SET LOCAL statement_timeout = {int(timeout_ms)}; "
    db.ensure_connection()
    raw = db.connection
    skip = 1
    if raw.info.parameter_status("TimeZone") not in UTC_NAMES:
        settings += "SET LOCAL TIME ZONE 'UTC'; "
        skip += 1
    if db.in_atomic_block or not db.autocommit:  # a caller's transaction: a savepoint (connected just above)
        with transaction.atomic(), db.cursor() as cursor:
            cursor.execute(f"SET LOCAL transaction_read_only = on; {settings}{sql}", params)
            rows = _statement_rows(cursor.cursor, row_cap, skip=skip + 1)
            transaction.set_rollback(True)
        return rows
    cursor = db.cursor() if db.queries_logged else raw.cursor()
    # Errors become Django's, the connection marked as having had some, so Django checks it before reuse.
    with db.wrap_database_errors, cursor:
        try:
            cursor.execute(f"BEGIN READ ONLY; {settings}{sql}; ROLLBACK", params)
            rows = _statement_rows(getattr(cursor, "cursor", cursor), row_cap, skip=skip + 1)
        finally:
            # A statement that failed (timeout, cancel) left the transaction open and aborted.
            if raw.info.transaction_status != TransactionStatus.IDLE:
                raw.rollback()
    return rows


def _statement_rows(cursor: Any, row_cap: int, *, skip: int) -> list[tuple]:
    """The statement's rows, past the `skip` results before it (BEGIN's, the SETs'). `cursor`
    is psycopg's own: every result arrived with the message, and Django's wrapper would cost each step."""
    for _ in range(skip):
        cursor.nextset()
    return _fetch(cursor, row_cap)


def _sqlite(
    sql: str, params: list[Any], timeout_ms: int, row_cap: int, cancelled: Callable[[], bool] | None = None
) -> list[tuple]:
    # sqlite3 binds no Decimal; the exact value matters on PostgreSQL, where numbers compare as numerics.
    params = [float(p) if isinstance(p, Decimal) else p for p in params]
    connection.ensure_connection()
    raw = connection.connection
    deadline = time.monotonic() + timeout_ms / 1000
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA case_sensitive_like = ON")  # Rockset's LIKE tells 'A' from 'a'
        sqlite_functions.register(raw)
        # json_each is connected once per connection, which declares its columns: done before the authorizer,
        # which would refuse that declaration (schema work), and so every json_each after it.
        cursor.execute("SELECT 1 FROM json_each('[]')")
        raw.set_authorizer(sqlite_authorizer)
        raw.set_progress_handler(_progress(deadline, cancelled), PROGRESS_STEPS)
        try:
            cursor.execute(sql, params)
            rows = _fetch(cursor, row_cap)
        finally:
            raw.set_progress_handler(None, 0)
            raw.set_authorizer(None)
            cursor.execute("PRAGMA case_sensitive_like = OFF")
    return rows


def _progress(deadline: float, cancelled: Callable[[], bool] | None) -> Callable[[], int]:
    """SQLite's progress handler: non-zero stops the statement. The cancel question may cost a file read, so
    it is asked every CANCEL_POLL_SECONDS, not every PROGRESS_STEPS instructions."""
    next_look = time.monotonic() + CANCEL_POLL_SECONDS

    def stop() -> int:
        nonlocal next_look
        now = time.monotonic()
        if now > deadline:
            return 1
        if cancelled is not None and now >= next_look:
            next_look = now + CANCEL_POLL_SECONDS
            return int(cancelled())
        return 0

    return stop


def _fetch(cursor: Any, row_cap: int) -> list[tuple]:
    """At most one row over the cap, and no more text than MAX_BYTES: a result too big is an error before it
    is all in memory, not after."""
    rows: list[tuple] = []
    size = 0
    while len(rows) <= row_cap:
        wanted = min(1000, row_cap + 1 - len(rows))
        chunk = cursor.fetchmany(wanted)
        rows += chunk
        size += sum(len(value) for row in chunk for value in row if isinstance(value, str))
        if size > MAX_BYTES:
            raise QueryError(
                f"The result is over {MAX_BYTES // 2**20} MB, the most one query returns; add a LIMIT or select "
                "fewer fields.",
                type_="RESOURCEEXCEEDED",
            )
        if len(chunk) < wanted:  # the last rows: no need to ask again
            break
    return rows


_DECODER = json.JSONDecoder(parse_float=Decimal)  # one for every value: json.loads(..., parse_float=) builds one a call


def _decode(text: str) -> Any:
    """JSON text as Python, numbers exact. The plain scalars most fields hold skip the decoder (a
    thousand-row result spent most of its time here)."""
    first = text[:1]
    if first == '"' and "\\" not in text:
        return text[1:-1]
    if first.isdigit() or first == "-":
        digits = text[1:] if first == "-" else text
        return int(text) if digits.isdigit() else Decimal(text)  # JSON's number grammar is within Decimal's
    return _DECODER.decode(text)


def event_time(value: datetime | str) -> str:
    """Rockset's `_event_time`: UTC to the microsecond, `Z` (SQLite hands Django's stored text back)."""
    moment = value if isinstance(value, datetime) else parse_datetime(value)
    if moment is None:
        return str(value)
    if moment.tzinfo is not None and moment.utcoffset():
        moment = moment.astimezone(UTC)
    return f"{moment.isoformat(timespec='microseconds')[:26]}Z"  # isoformat: strftime's work at a third the cost


def _plain(value: Any, kind: str) -> Any:
    """A computed value as JSON. Numbers: integral ones as integers, others exactly as the database gave
    them, so that both databases answer alike (SQLite's 51.0 float and PostgreSQL's 51.0 numeric are 51)."""
    if value is None or (kind == TEXT and value.__class__ is str):
        return value
    if kind == TIME:
        return event_time(value)
    if kind in TIMES:
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(value))
        return moment.strftime(TIME_FORMATS[kind])
    if kind in (IV, MI):
        return int(value)
    if kind == BOOL:
        return bool(value)
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value.normalize()
    return value


def _document(row: tuple, translation: Translation) -> dict[str, Any]:
    document: dict[str, Any] = {}
    values = iter(row)
    for column in translation.columns:
        if column.kind == STAR:
            doc_id, body, changed = next(values), next(values), next(values)
            document.update({"_id": doc_id, "_event_time": event_time(changed), **_decode(body)})
            for name in column.exclude:
                document.pop(name, None)
        elif column.kind == JSON:
            text = next(values)
            if text is not None:  # undefined: the field is left out, as Rockset leaves it out
                document[column.name] = _decode(text)
        else:
            document[column.name] = _plain(next(values), column.kind)
    return document
