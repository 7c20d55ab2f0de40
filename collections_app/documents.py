"""Reading a collection's documents for the browser: which columns to show, what each cell is, a field filter,
and the selection as JSON lines. Reads only; the engine writes documents."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTransform

from collections_app.models import Collection, Document
from ingest import convert

SAMPLE_SIZE = 200  # documents read to choose the columns, like Rockset's DESCRIBE on a sample
MAX_COLUMNS = 12
# A field the filter accepts: an attribute name, or a dotted path into nested maps (no "__", which Django
# reads as a lookup).
FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,254}\Z")


@dataclass(frozen=True)
class Cell:
    """One value as the table shows it: its kind says null, empty and missing apart."""

    kind: str  # missing | null | empty | string | number | boolean | object | array
    text: str  # short, for the cell
    full: str = ""  # the whole JSON, for a nested value that is collapsed


def columns(collection: Collection, key_names: list[str]) -> list[str]:
    """The key attributes first, then the fields most documents of a sample have (ties by name)."""
    sample = collection.documents.order_by("doc_id").values_list("body", flat=True)[:SAMPLE_SIZE]
    seen = Counter(name for body in sample if isinstance(body, dict) for name in body)
    others = sorted((n for n in seen if n not in key_names), key=lambda n: (-seen[n], n))
    return [*key_names, *others][: max(MAX_COLUMNS, len(key_names))]


def cell(body: dict[str, Any], name: str) -> Cell:
    if name not in body:
        return Cell("missing", "—")
    value = body[name]
    if value is None:
        return Cell("null", "null")
    if value == "" or value == [] or value == {}:
        return Cell("empty", convert.dumps(value))
    if isinstance(value, bool):
        return Cell("boolean", "true" if value else "false")
    if isinstance(value, int | float | Decimal):
        return Cell("number", convert.dumps(value))  # all 38 digits, never through a float
    if isinstance(value, dict):
        return Cell("object", f"{{{len(value)} field{'s' if len(value) != 1 else ''}}}", convert.dumps(value, indent=2))
    if isinstance(value, list):
        return Cell("array", f"[{len(value)} item{'s' if len(value) != 1 else ''}]", convert.dumps(value, indent=2))
    text = str(value)
    return Cell("string", text if len(text) <= 80 else text[:79] + "…", text if len(text) > 80 else "")


class BadFilter(ValueError):
    """A field name the filter can't take: said under the form."""


def where_field_is(documents: QuerySet[Document], field: str, value: str) -> QuerySet[Document]:
    """Documents whose `field` (a name, or a.b.c into nested maps) equals `value`: as a string, or as a number
    when it reads as one (42 matches both "42" and 42), or true/false/null."""
    if not FIELD_RE.match(field) or "__" in field:
        raise BadFilter("A field name is letters, digits, _ - . and :, starting with a letter or _.")
    candidates: list[Any] = [value]
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = None
    if number is not None and number.is_finite():
        candidates.append(int(number) if number == number.to_integral_value() else float(number))
    special = {"true": True, "false": False, "null": None}
    if value in special:
        candidates.append(special[value])
    lookups = [f"body__{field}"]  # a top-level name may hold dots (DynamoDB allows them) ...
    path = field.split(".")
    if len(path) > 1 and all(p and p not in KeyTransform.get_lookups() for p in path):
        lookups.append("body__" + "__".join(path))  # ... or it is a path into nested maps: shipping.address.city
    match = Q()
    for lookup in lookups:
        for candidate in candidates:
            match |= Q(**{lookup: candidate})
    return documents.filter(match)


def download_name(
    collection: Collection, *, field: str = "", value: str = "", key: dict[str, str] | None = None
) -> str:
    """The download's file name says what it holds: commons.orders.jsonl for every document,
    commons.orders-status-shipped.jsonl for a filter, commons.orders-zid-o-3.jsonl for a key looked up;
    so two downloads of one collection don't take each other's name. Letters, digits, _ . - only (a header
    value, and a name every file system takes); a long value is cut."""
    parts = [f"{collection.workspace.name}.{collection.name}"]
    for name, text in [*(key or {}).items(), *([(field, value if value else "empty")] if field else [])]:
        parts += [_file_part(name), _file_part(text)]
    return "-".join(p for p in parts if p) + ".jsonl"


def _file_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")[:40]


def json_lines(documents: QuerySet[Document]) -> Iterator[str]:
    """The selection, one document a line, numbers exact, read in chunks so a large collection streams."""
    for body in documents.values_list("body", flat=True).iterator(chunk_size=500):
        yield convert.dumps(body) + "\n"
