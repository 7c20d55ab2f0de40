"""The converter against a plain reference over many generated items, nasty ones included: attribute
names equal to type tags, quotes, backslashes, unicode, newlines, deep nesting, empty containers, sets,
38-digit numbers and every spelling DynamoDB accepts for a number."""

from __future__ import annotations

import base64
import json
import random
from decimal import Context, Decimal, InvalidOperation
from typing import Any

import orjson
import pytest

from ingest import convert

WIDE = Context(prec=80)
NAMES = ["S", "N", "B", "M", "L", "SS", "NS", "BS", "BOOL", "NULL", "Item", "", " ", "pk", "é", '"', "\\", "{", "}"]
TEXTS = [
    "",
    "plain",
    'say "hi"',
    "back\\slash",
    '\\"',
    "new\nline\r\ttab",
    "\x00\x1f\x7f",
    "héllo wörld",
    "日本語",
    "emoji 🦆",
    "\u2028\u2029",
    '{"S":"x"}',
    '{"M":{}}',
    "]}",
    "}}",
    "}",
    "[",
    "null",
    "true",
    "1E+3",
    "NaN",
]
NUMBERS = [
    "0",
    "-0",
    "0.0",
    "-0.0",
    "0.10",
    "0001.500",
    "1E+3",
    "1e3",
    "1.5E-3",
    "-12.3400",
    "12345678901234567890.123456789012345678",
    "99999999999999999999999999999999999999",
    "-0.000000000000000000000000000000000001",
    "1E-130",
    "1.5E+125",
    "5.",
    ".5",
    "+7",
    "9.99",
    "3",
    "-42",
]


def random_number(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(NUMBERS)
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 39)))
    point = rng.randrange(0, len(digits) + 1)
    text = digits[:point] + ("." + digits[point:] if point < len(digits) and rng.random() < 0.6 else digits[point:])
    return ("-" if rng.random() < 0.3 else "") + (text if text[:1] != "." else "0" + text)


def random_text(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return rng.choice(TEXTS)
    return "".join(rng.choice(TEXTS + ["x", "\\", '"', "é"]) for _ in range(rng.randrange(0, 5)))


def random_value(rng: random.Random, depth: int, raw_binary: bool) -> dict[str, Any]:
    """One attribute value as boto3's client gives it (raw_binary) or as an export file has it."""
    kinds = ["S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS"] + (["M", "L"] * 2 if depth < 6 else [])
    tag = rng.choice(kinds)
    if tag == "S":
        return {"S": random_text(rng)}
    if tag == "N":
        return {"N": random_number(rng)}
    if tag == "B":
        return {"B": random_binary(rng, raw_binary)}
    if tag == "BOOL":
        return {"BOOL": rng.random() < 0.5}
    if tag == "NULL":
        return {"NULL": True}
    if tag == "SS":
        return {"SS": [random_text(rng) for _ in range(rng.randrange(0, 4))]}
    if tag == "NS":
        return {"NS": [random_number(rng) for _ in range(rng.randrange(0, 4))]}
    if tag == "BS":
        return {"BS": [random_binary(rng, raw_binary) for _ in range(rng.randrange(0, 3))]}
    if tag == "M":
        return {"M": random_map(rng, depth + 1, raw_binary)}
    return {"L": [random_value(rng, depth + 1, raw_binary) for _ in range(rng.randrange(0, 4))]}


def random_binary(rng: random.Random, raw_binary: bool) -> bytes | str:
    data = rng.randbytes(rng.randrange(0, 20))
    return data if raw_binary else base64.b64encode(data).decode()


def random_map(rng: random.Random, depth: int, raw_binary: bool) -> dict[str, Any]:
    names = rng.sample(NAMES, rng.randrange(0, 6)) + [random_text(rng) for _ in range(rng.randrange(0, 2))]
    return {name: random_value(rng, depth, raw_binary) for name in names}


def canonical(text: str) -> str:
    """DynamoDB's number as the shortest exact plain JSON number, worked out with Decimal alone."""
    value = Decimal(text)
    if not value.is_finite():
        raise ValueError(text)
    if value == value.to_integral_value():
        return str(int(value))
    return format(WIDE.normalize(value), "f")


def reference(attribute: dict[str, Any]) -> Any:
    """The plain value, one obvious step per type: what the converter must write, byte for byte."""
    ((tag, raw),) = attribute.items()
    if tag in ("S", "SS"):
        return raw if tag == "S" else list(raw)
    if tag == "N":
        return orjson.Fragment(canonical(raw))
    if tag == "NS":
        return [orjson.Fragment(canonical(n)) for n in raw]
    if tag == "B":
        return raw if isinstance(raw, str) else base64.b64encode(raw).decode()
    if tag == "BS":
        return [b if isinstance(b, str) else base64.b64encode(b).decode() for b in raw]
    if tag == "BOOL":
        return raw
    if tag == "NULL":
        return None
    if tag == "M":
        return {name: reference(value) for name, value in raw.items()}
    return [reference(value) for value in raw]


@pytest.mark.parametrize("raw_binary", [True, False], ids=["scan", "export"])
def test_generated_items_convert_exactly_as_the_reference(raw_binary):
    rng = random.Random(17 + raw_binary)
    for _ in range(3000):
        item = random_map(rng, 0, raw_binary)
        text = convert.item_to_json_bytes(item)
        assert text == orjson.dumps(reference({"M": item})), item
        assert convert.item_to_json(item) == text.decode()


def test_export_lines_convert_as_the_items_they_hold():
    rng = random.Random(5)
    for _ in range(1000):
        item = random_map(rng, 0, raw_binary=False)
        line = orjson.dumps({"Item": item})
        assert convert.item_to_json_bytes(convert.parse_line(line)) == orjson.dumps(reference({"M": item}))


def test_numbers_are_written_as_decimal_alone_would_write_them():
    rng = random.Random(3)
    alphabet = "0123456789.-+eE"
    texts = NUMBERS + [random_number(rng) for _ in range(2000)]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 8))) for _ in range(4000)]
    for text in texts:
        try:
            expected: str | type[Exception] = canonical(text)
        except (ValueError, InvalidOperation):
            expected = ValueError
        if expected is ValueError:
            with pytest.raises(ValueError):
                convert.number_text(text)
            with pytest.raises(ValueError):
                convert.item_to_json_bytes({"n": {"N": text}})
        else:
            assert convert.number_text(text) == expected, text
            # Twice: the second time from the Fragment cache.
            for _ in range(2):
                assert convert.item_to_json_bytes({"n": {"NS": [text]}}) == b'{"n":[' + expected.encode() + b"]}"
            assert json.loads(convert.item_to_json({"n": {"N": text}}), parse_float=Decimal)["n"] == Decimal(text)


@pytest.mark.parametrize("bad", [{}, {"X": "1"}, {"N": "NaN"}, {"N": "-Infinity"}, {"N": "1e"}, {"NS": ["1", "sNaN"]}])
def test_a_bad_value_deep_inside_is_refused(bad):
    item = {"pk": {"S": "a"}, "m": {"M": {"l": {"L": [{"N": "1"}, {"M": {"deep": bad}}]}}}}
    with pytest.raises(ValueError):
        convert.item_to_json_bytes(item)
