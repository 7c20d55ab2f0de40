"""DynamoDB attribute values → the JSON documents a collection stores. The one converter, used by
the Scan preview, the Scan loader, export files and stream images.

Numbers keep every significant digit: DynamoDB's number text is checked (or, if not canonical, parsed
into int or a Decimal, never a float) and written back as plain JSON numbers, without exponents.
Documents are written by orjson, with each number as a Fragment of its text. Binary values
become base64 text (boto3 hands us bytes; export files already carry base64). Sets become arrays.
"""

from __future__ import annotations

import json
import re
from binascii import b2a_base64
from decimal import Context, Decimal
from typing import Any

import orjson
from orjson import Fragment

# DynamoDB keeps 38 significant digits; the default context (28) would round them.
EXACT = Context(prec=60)
_encode_string = json.encoder.encode_basestring


# DynamoDB's number text that is already a canonical JSON number (no sign on zero, no leading zeros, no
# trailing zeros after the point, no exponent). Possessive quantifiers: no backtracking over 38 digits.
_CANONICAL_NUMBER = re.compile(r"(?:-?[1-9][0-9]*+|0)(?:\.[0-9]*+(?<![.0]))?|-0\.[0-9]*+(?<![.0])")


def number(text: str) -> int | Decimal:
    if text.isascii() and (text.isdigit() or (text[:1] == "-" and text[1:].isdigit())):
        return int(text)
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise ValueError(f"{text!r} is not a DynamoDB number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a DynamoDB number")
    if value == value.to_integral_value():
        return int(value)
    return EXACT.normalize(value)


def number_text(text: str) -> str:
    """DynamoDB's number text as a JSON number: canonical, exact, never an exponent."""
    if _CANONICAL_NUMBER.fullmatch(text):
        return text  # already canonical: the common case costs one regex match
    return _number_json(number(text))


def _number_json(value: int | Decimal) -> str:
    return str(value) if isinstance(value, int) else format(value, "f")


def binary(value: bytes | str) -> str:
    return value if isinstance(value, str) else b2a_base64(value, newline=False).decode("ascii")


def _value(attribute: dict[str, Any]) -> Any:
    """One attribute value as the plain value orjson writes: numbers as orjson.Fragment of their exact
    text (orjson has no Decimal, and a float would round), binary as base64 text, sets as lists."""
    for tag, raw in attribute.items():
        if tag == "S":
            return raw
        if tag == "N":
            return _NUMBERS.get(raw) or _number_fragment(raw)
        if tag == "M":
            return _map(raw)
        if tag == "L":
            return [_value(element) for element in raw]
        if tag == "BOOL":
            return raw is True
        if tag == "NULL":
            return None
        if tag == "B":
            return binary(raw)
        if tag == "SS":
            return list(raw)
        if tag == "NS":
            return [_NUMBERS.get(v) or _number_fragment(v) for v in raw]
        if tag == "BS":
            return [binary(v) for v in raw]
        raise ValueError(f"Unknown DynamoDB attribute type {tag!r}")
    raise ValueError("An attribute value without a type")


def _map(attributes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The hot path of every load: strings and numbers, the commonest values, cost dict lookups, not
    a call."""
    out = {}
    for name, attribute in attributes.items():
        if len(attribute) == 1:
            text = attribute.get("S")
            if text is not None:
                out[name] = text
                continue
            text = attribute.get("N")
            if text is not None:
                out[name] = _NUMBERS.get(text) or _number_fragment(text)
                continue
        out[name] = _value(attribute)
    return out


# Number text → its Fragment: most tables repeat small numbers (quantities, flags, prices) on every item.
# Longer numbers (amounts, ids, timestamps) rarely repeat: caching them would only push the small ones out.
_NUMBERS: dict[str, Fragment] = {}
_NUMBERS_KEPT = 50_000
_NUMBER_CACHED_LENGTH = 8


def _number_fragment(text: str) -> Fragment:
    """A number not in _NUMBERS: a third of the converter's time went here, so the canonical case is one
    regex match, not number_text's call."""
    fragment = Fragment(text if _CANONICAL_NUMBER.fullmatch(text) else _number_json(number(text)))
    if len(text) <= _NUMBER_CACHED_LENGTH:
        if len(_NUMBERS) >= _NUMBERS_KEPT:
            _NUMBERS.clear()
        _NUMBERS[text] = fragment
    return fragment


def item_to_json_bytes(item: dict[str, dict[str, Any]]) -> bytes:
    """A DynamoDB item (as boto3's client, an export file or a stream image gives it) as the document's
    UTF-8 JSON text: what COPY sends to PostgreSQL as is."""
    return orjson.dumps(_map(item))


def item_to_json(item: dict[str, dict[str, Any]]) -> str:
    """The same document's JSON text as str."""
    return item_to_json_bytes(item).decode()


def parse_line(line: bytes) -> dict[str, dict[str, Any]]:
    """An export file's line ({"Item": …}) as the item; DynamoDB JSON carries numbers as text, so a fast
    parser loses no digit."""
    return orjson.loads(line)["Item"]


def item_to_document(item: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The same document as Python values (Decimal for fractions), for pages that show a few items."""
    return json.loads(item_to_json(item), parse_float=Decimal)


def document_id(item: dict[str, dict[str, Any]], key_names: list[str]) -> str:
    """`_id` from the primary key: the key itself for a one-attribute key, else a JSON array of both."""
    parts = []
    for name in key_names:
        ((tag, raw),) = item[name].items()
        parts.append(raw if tag == "S" else binary(raw) if tag == "B" else number(raw))
    if len(parts) == 1:
        return parts[0] if isinstance(parts[0], str) else dumps(parts[0])
    return dumps(parts)


class RawJSON:
    """JSON text already written by item_to_json, stored as is (see ExactJSONEncoder)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


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
        return o.text if isinstance(o, RawJSON) else dumps(o)


class ExactJSONDecoder(json.JSONDecoder):
    """Reads decimals back as Decimal, not float."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("parse_float", Decimal)
        super().__init__(*args, **kwargs)
