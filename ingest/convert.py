"""DynamoDB attribute values → the JSON documents a collection stores. The one converter, used by
the Scan preview, the Scan loader, export files and stream images.

Numbers keep every significant digit: they are parsed from DynamoDB's number text into int or a
Decimal (never a float) and written back as plain JSON numbers, without exponents. Binary values
become base64 text (boto3 hands us bytes; export files already carry base64). Sets become arrays.
"""

from __future__ import annotations

import base64
import json
from decimal import Context, Decimal
from typing import Any

# DynamoDB keeps 38 significant digits; the default context (28) would round them.
EXACT = Context(prec=60)
_encode_string = json.encoder.encode_basestring


def number(text: str) -> int | Decimal:
    if text.isdigit() or (text[:1] == "-" and text[1:].isdigit()):
        return int(text)
    value = Decimal(text)
    if value == value.to_integral_value():
        return int(value)
    return EXACT.normalize(value)


def binary(value: bytes | str) -> str:
    return value if isinstance(value, str) else base64.b64encode(value).decode("ascii")


def value(attribute: dict[str, Any]) -> Any:
    """One attribute value, e.g. {"N": "1.50"} → Decimal("1.5")."""
    ((tag, raw),) = attribute.items()
    if tag == "S" or tag == "BOOL":
        return raw
    if tag == "N":
        return number(raw)
    if tag == "M":
        return {name: value(item) for name, item in raw.items()}
    if tag == "L":
        return [value(item) for item in raw]
    if tag == "NULL":
        return None
    if tag == "B":
        return binary(raw)
    if tag == "SS":
        return list(raw)
    if tag == "NS":
        return [number(n) for n in raw]
    if tag == "BS":
        return [binary(b) for b in raw]
    raise ValueError(f"Unknown DynamoDB attribute type {tag!r}")


def item_to_document(item: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {name: value(attribute) for name, attribute in item.items()}


def document_id(item: dict[str, dict[str, Any]], key_names: list[str]) -> str:
    """`_id` from the primary key: the key itself for a one-attribute key, else a JSON array of both."""
    parts = [value(item[name]) for name in key_names]
    if len(parts) == 1:
        return parts[0] if isinstance(parts[0], str) else dumps(parts[0])
    return dumps(parts)


def dumps(document: Any, indent: int | None = None) -> str:
    """JSON text with exact numbers (json.dumps would refuse Decimal, or round it through a float)."""
    out: list[str] = []
    _write(document, out, indent, 0)
    return "".join(out)


def _write(obj: Any, out: list[str], indent: int | None, depth: int) -> None:
    if isinstance(obj, str):
        out.append(_encode_string(obj))
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, int):
        out.append(str(obj))
    elif isinstance(obj, Decimal):
        out.append(format(obj, "f"))
    elif isinstance(obj, dict):
        if not obj:
            out.append("{}")
            return
        pad, sep = _layout(indent, depth)
        out.append("{")
        for i, (key, item) in enumerate(obj.items()):
            out.append(("," if i else "") + pad + _encode_string(key) + sep)
            _write(item, out, indent, depth + 1)
        out.append(_layout(indent, depth - 1)[0] + "}")
    elif isinstance(obj, list):
        if not obj:
            out.append("[]")
            return
        pad, _ = _layout(indent, depth)
        out.append("[")
        for i, item in enumerate(obj):
            out.append(("," if i else "") + pad)
            _write(item, out, indent, depth + 1)
        out.append(_layout(indent, depth - 1)[0] + "]")
    else:
        raise TypeError(f"Can't write {type(obj).__name__} as JSON")


def _layout(indent: int | None, depth: int) -> tuple[str, str]:
    if indent is None:
        return "", ":"
    return "\n" + " " * (indent * (depth + 1)), ": "


class ExactJSONEncoder(json.JSONEncoder):
    """Lets Django's JSONField store documents through `dumps`, so numbers keep every digit."""

    def encode(self, o: Any) -> str:
        return dumps(o)


class ExactJSONDecoder(json.JSONDecoder):
    """Reads decimals back as Decimal, not float."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("parse_float", Decimal)
        super().__init__(*args, **kwargs)
