"""`DESCRIBE ws.collection`: every field path of the documents, each type it takes, and how often.

Rockset's rows: `field` (the path as a list, `*` for "an element of the array"), `type`, `occurrences`
(how many times the field has that type) and `total` (documents, for a top-level field; instances of the
parent, for a nested one). Counted in Python over the bodies, streamed, so it is the same on both databases
and memory holds only the counters; the deadline is checked as it goes, like a statement's timeout.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from decimal import Decimal
from typing import Any

from sqlglot import exp

from collections_app.models import Document
from queries.dialect import parse
from queries.errors import QueryError
from queries.sql import Resolver, where_of

DESCRIBE = re.compile(r"\s*describe\b", re.IGNORECASE)
COLUMNS = ["field", "occurrences", "total", "type"]
MAX_DEPTH = 32  # deeper than any document a DynamoDB item becomes (its limit is 32 levels)
Path = tuple[str, ...]


def is_describe(sql: str) -> bool:
    return bool(DESCRIBE.match(sql))


def type_of(value: Any) -> str:
    """Rockset's names for JSON types (TYPEOF's): an exact decimal with a fraction is a float."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, (float, Decimal)):
        return "float"
    return {str: "string", dict: "object", list: "array"}.get(type(value), "string")


def describe_target(sql: str, resolve: Resolver) -> tuple[int, str]:
    """The collection a DESCRIBE names: its id and `workspace.name`, or a QueryError that points at it."""
    tree = parse(sql)
    table = tree.this if isinstance(tree, exp.Describe) else None
    if not isinstance(table, exp.Table) or table.args.get("catalog") or tree.args.get("kind"):
        raise QueryError("DESCRIBE takes one collection: `DESCRIBE workspace.collection`.", *where_of(tree))
    workspace = table.db or "commons"
    collection_id = resolve(workspace, table.name)
    if collection_id is None:
        raise QueryError(f"Collection '{workspace}.{table.name}' not found.", *where_of(table))
    return collection_id, f"{workspace}.{table.name}"


def describe(collection_id: int, *, timeout_ms: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_ms / 1000
    occurrences: Counter[tuple[Path, str]] = Counter()
    totals: Counter[Path] = Counter()  # instances of each parent: () for the documents themselves
    bodies = Document.objects.filter(collection_id=collection_id).values_list("body", flat=True)
    for count, body in enumerate(bodies.iterator(chunk_size=2000), start=1):
        if count % 1000 == 0 and time.monotonic() > deadline:
            raise QueryError(f"The query ran longer than its timeout of {timeout_ms:,} ms.", type_="QUERY_TIMEOUT")
        totals[()] += 1
        occurrences[(("_id",), "string")] += 1
        occurrences[(("_event_time",), "timestamp")] += 1
        _count_object(body, (), occurrences, totals)
    rows = [
        {"field": list(path), "occurrences": n, "total": totals[path[:-1]], "type": type_}
        for (path, type_), n in occurrences.items()
    ]
    rows.sort(key=lambda row: (row["field"], row["type"]))
    return rows


def _count_object(obj: dict, path: Path, occurrences: Counter, totals: Counter) -> None:
    for key, value in obj.items():
        if path == () and key in ("_id", "_event_time"):
            continue  # the special fields are counted once, from the row
        _count_value(value, (*path, key), occurrences, totals)


def _count_value(value: Any, path: Path, occurrences: Counter, totals: Counter) -> None:
    kind = type_of(value)
    occurrences[(path, kind)] += 1
    if len(path) >= MAX_DEPTH:
        return
    if kind == "object":
        totals[path] += 1
        _count_object(value, path, occurrences, totals)
    elif kind == "array":
        totals[path] += len(value)
        for element in value:
            _count_value(element, (*path, "*"), occurrences, totals)
