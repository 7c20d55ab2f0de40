from __future__ import annotations

import decimal
import json
from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeDeserializer

from ingest.convert import ExactJSONDecoder, document_id, dumps, item_to_document, number

THIRTY_EIGHT = "12345678901234567890.123456789012345678"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", "0"),
        ("-0", "0"),
        ("1.50", "1.5"),
        ("1E3", "1000"),
        ("0001", "1"),
        ("-12.3400", "-12.34"),
        (THIRTY_EIGHT, THIRTY_EIGHT),
        ("99999999999999999999999999999999999999", "99999999999999999999999999999999999999"),
        ("1E-130", "0." + "0" * 129 + "1"),
        ("1.5E+125", "15" + "0" * 124),
        ("-0.000000000000000000000000000000000001", "-0.000000000000000000000000000000000001"),
    ],
)
def test_numbers_keep_every_digit_and_never_use_exponents(text, expected):
    assert dumps(number(text)) == expected


@pytest.mark.parametrize(
    "text", ["1234567895171680000000000000000000000000", "0.1000000000000000000000000000000000000000"]
)
def test_numbers_boto3s_deserializer_refuses_are_kept(text):
    with pytest.raises(decimal.Rounded):  # boto3 issue 4693: trailing zeros past 38 characters
        TypeDeserializer().deserialize({"N": text})
    assert dumps(number(text)) == (text.rstrip("0") if "." in text else text)


def test_every_type_converts():
    item = {
        "s": {"S": "héllo"},
        "empty_s": {"S": ""},
        "n": {"N": THIRTY_EIGHT},
        "b": {"B": b"\x00\xff"},
        "b_text": {"B": "AP8="},
        "t": {"BOOL": True},
        "f": {"BOOL": False},
        "null": {"NULL": True},
        "m": {"M": {"inner": {"L": [{"N": "1"}, {"S": "x"}, {"M": {}}]}}},
        "empty_m": {"M": {}},
        "empty_l": {"L": []},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1.0", "2"]},
        "bs": {"BS": [b"\x01", "Ag=="]},
    }
    document = item_to_document(item)
    assert json.loads(dumps(document), cls=ExactJSONDecoder) == {
        "s": "héllo",
        "empty_s": "",
        "n": Decimal(THIRTY_EIGHT),
        "b": "AP8=",
        "b_text": "AP8=",
        "t": True,
        "f": False,
        "null": None,
        "m": {"inner": [1, "x", {}]},
        "empty_m": {},
        "empty_l": [],
        "ss": ["a", "b"],
        "ns": [1, 2],
        "bs": ["AQ==", "Ag=="],
    }
    assert f'"n":{THIRTY_EIGHT}' in dumps(document)


def test_document_ids_come_from_the_primary_key():
    item = {"pk": {"S": "a"}, "sk": {"N": "1.50"}, "bk": {"B": b"\x00\x01"}}
    assert document_id(item, ["pk"]) == "a"
    assert document_id(item, ["sk"]) == "1.5"
    assert document_id(item, ["bk"]) == "AAE="
    assert document_id(item, ["pk", "sk"]) == '["a",1.5]'
    assert document_id(item, ["bk", "pk"]) == '["AAE=","a"]'


def test_indented_and_compact_output_are_the_same_json():
    document = item_to_document({"m": {"M": {"l": {"L": [{"N": "1"}, {"M": {"x": {"NULL": True}}}]}}}})
    assert json.loads(dumps(document, indent=2)) == json.loads(dumps(document))
