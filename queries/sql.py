"""The pieces the translator builds with: what kind of SQL value an expression is, the generated SQL with
its bound values, and the result's columns. Shared by the statement and expression halves of the
translator, and by the runner that decodes the rows."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from collections_app.models import Document
from queries.errors import QueryError

POSTGRES = "postgresql"
SQLITE = "sqlite"
DOCUMENTS = Document._meta.db_table
ALIAS = "d"  # the documents table's aliases in the generated SQL are d0, d1...: user aliases never reach it
SAFE_KEY = re.compile(r"^[^\x00-\x1f\"'\\%]{1,255}$")  # `%` too: the drivers' placeholders use it

# Which SQL kind an emitted expression has: how it is compared, converted and returned.
JSON, NUM, TEXT, BOOL, NULL, VALUE = "json", "num", "text", "bool", "null", "value"
TIME = "time"  # `_event_time`: the database's timestamp, returned as Rockset writes it
DOC = "doc"  # a computed JSON value on SQLite, as JSON text (PostgreSQL's computed jsonb is JSON)
# Rockset's time types, as whole microseconds since 1970 (UTC) on both databases: they compare, add and
# subtract as integers, and the runner writes them out as Rockset does.
TS, DT, DATE, IV = "timestamp", "datetime", "date", "microsecond_interval"
MI = "month_interval"  # whole months (INTERVAL 'n' MONTH / YEAR): added on the calendar, not in microseconds
TIMES = (TS, DT, DATE)

# A collection's id from (workspace, name), looked up in the caller's organisation only; None if not there.
Resolver = Callable[[str, str], "int | None"]
# A view's SQL from (workspace, name), in the caller's organisation; None if there is no such view.
ViewLookup = Callable[[str, str], "str | None"]


@dataclass(frozen=True)
class Sql:
    """A piece of generated SQL with its bound values, in the order their `%s` appear."""

    sql: str
    kind: str
    params: tuple[Any, ...] = ()
    path: tuple[str | int, ...] | None = None  # set for a document field: its output is the JSON text
    constant: bool = False  # one bound value from the query (a literal or a parameter)
    table: str = ""  # for a field: the SQL of the JSON document it is read from (`d0.body`, `s1.c2`)
    label: str = ""  # the result's column name when the query gives none (`_id`, a derived column's name)


@dataclass(frozen=True)
class Column:
    """One column of the result: its name and how the runner turns the database's value into JSON."""

    name: str
    kind: str  # JSON: JSON text to decode (None = undefined, omitted); STAR: doc_id, body, event_time; else a value
    exclude: tuple[str, ...] = ()  # `* EXCEPT (a, b)`: top-level fields left out of the document
    star: tuple[str, str, str] = ()  # STAR: the SQL of the document, its _id and its _event_time


STAR = "star"


@dataclass
class Translation:
    sql: str
    params: list[Any]
    columns: list[Column]
    collections: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)  # the names the SQL itself reads (views not opened)
    # The same SQL, values and collections always translate to this: no view was opened (its SQL may change)
    # and the clock was not read (CURRENT_TIMESTAMP is bound as a value). Only such a translation is reused.
    repeatable: bool = True
    # Where a condition over the whole statement goes: (offset in `sql`, index in `params`), just after the top
    # SELECT's own WHERE restriction. PostgreSQL evaluates a condition there that reads no column once, before
    # the statement reads anything (a gating qual), which is how the runner checks remembered names.
    guard_at: tuple[int, int] | None = None


def where_of(node: exp.Expression) -> tuple[int | None, int | None]:
    """The line and column where a node starts: its first identifier that the tokenizer placed (sqlglot
    records where an identifier ends; `commons.orders` starts at `commons`)."""
    places = []
    for identifier in [node, *node.find_all(exp.Identifier)]:
        meta = identifier.meta if isinstance(identifier, exp.Identifier) else {}
        if meta.get("line") and meta.get("col"):
            width = len(identifier.name) + (2 if identifier.quoted else 0)
            places.append((meta["line"], meta["col"] - width + 1))
    if not places and node.parent is not None:  # a literal has no place of its own: where its expression is
        return where_of(node.parent)
    return min(places) if places else (None, None)


def unsupported(node: exp.Expression, what: str | None = None) -> QueryError:
    line, column = where_of(node)
    label = what or f"`{node.sql(dialect='presto')[:60]}`"
    verb = "" if label.endswith((" is", " are")) else " is"  # callers write "WITH RECURSIVE is"
    return QueryError(f"{label}{verb} not supported by Millrace yet.", line, column)
