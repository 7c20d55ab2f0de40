"""ingest.writer: documents reach the database with every digit and character, and the counters stay
exact, through the ORM (SQLite) or COPY (PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection, transaction

from collections_app.models import Collection, Document
from ingest import convert, writer
from tests.ingest.engine import create_source, make_table

THIRTY_EIGHT = "-12345678901234567890.123456789012345678"
AWKWARD = 'tab\tnewline\nreturn\rback\\slash "quoted" \\n not a newline, héllo ✓ \U0001f600'
AT = datetime(2026, 5, 1, 12, tzinfo=UTC)


def _item(key: str, n: int) -> dict:
    return {
        "pk": {"S": key},
        "big": {"N": THIRTY_EIGHT},
        "huge": {"N": "99999999999999999999999999999999999999"},
        "tiny": {"N": "1E-130"},
        "odd": {"N": "1.50"},
        "ns": {"NS": [THIRTY_EIGHT, "2"]},
        "text": {"S": AWKWARD},
        "empty": {"S": ""},
        "bin": {"B": b"\x00\\\t"},
        "nested": {"M": {"l": {"L": [{"N": str(n)}, {"M": {}}, {"L": []}, {"NULL": True}]}}},
    }


def _expected(key: str, n: int) -> dict:
    return {
        "pk": key,
        "big": Decimal(THIRTY_EIGHT),
        "huge": 99999999999999999999999999999999999999,
        "tiny": Decimal("1E-130"),
        "odd": Decimal("1.5"),
        "ns": [Decimal(THIRTY_EIGHT), 2],
        "text": AWKWARD,
        "empty": "",
        "bin": "AFwJ",
        "nested": {"l": [n, {}, [], None]},
    }


@pytest.fixture
def collection(people, integration, aws):
    make_table(aws.dynamodb, "t", 0)
    return create_source(people.acme, people.alice, integration, "t").collection


def _stored(collection: Collection) -> dict:
    return {d.doc_id: d.body for d in Document.objects.filter(collection=collection)}


def _counters_match(collection: Collection) -> None:
    collection.refresh_from_db()
    documents = Document.objects.filter(collection=collection)
    assert collection.doc_count == documents.count()
    assert collection.total_size_bytes == sum(documents.values_list("size_bytes", flat=True))


KEYS = ["plain", "tab\tkey", "back\\slash", "new\nline"]


def test_every_digit_and_character_survives_apply_and_counters_stay_exact(collection):
    with transaction.atomic():
        changes = [writer.Change(k, convert.item_to_json(_item(k, n)), AT) for n, k in enumerate(KEYS)]
        writer.apply(collection.pk, changes)
    assert _stored(collection) == {k: _expected(k, n) for n, k in enumerate(KEYS)}
    _counters_match(collection)
    text = Document.objects.get(collection=collection, doc_id="plain").body
    assert convert.dumps(text["big"]) == THIRTY_EIGHT and convert.dumps(text["tiny"]) == "0." + "0" * 129 + "1"

    with transaction.atomic():  # a modify, a delete, a re-insert in one batch: the last change per key wins
        writer.apply(
            collection.pk,
            [
                writer.Change("plain", convert.item_to_json(_item("plain", 7)), AT),
                writer.Change("tab\tkey", None, AT),
                writer.Change("new\nline", None, AT),
                writer.Change("new\nline", convert.item_to_json(_item("new\nline", 9)), AT),
            ],
        )
    stored = _stored(collection)
    assert sorted(stored) == sorted(["plain", "back\\slash", "new\nline"])
    assert stored["plain"] == _expected("plain", 7) and stored["new\nline"] == _expected("new\nline", 9)
    _counters_match(collection)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY text is PostgreSQL's")
def test_copy_rows_built_from_the_converters_bytes_store_the_same_documents(collection):
    rows = writer.CopyRows(AT, collection.pk)
    for n, key in enumerate(KEYS):
        rows.add(key, convert.item_to_json_bytes(_item(key, n)))
    assert KEYS[1] in rows and len(rows) == 4
    with transaction.atomic():
        writer.apply(collection.pk, rows)
    assert _stored(collection) == {k: _expected(k, n) for n, k in enumerate(KEYS)}
    _counters_match(collection)
    sizes = dict(Document.objects.filter(collection=collection).values_list("doc_id", "size_bytes"))
    assert sizes["plain"] == len(convert.item_to_json_bytes(_item("plain", 0)))

    # A batch with a key already stored can't go straight in: it is upserted, and counted, instead.
    again = writer.CopyRows(AT, collection.pk)
    again.add("new", convert.item_to_json_bytes(_item("new", 5)))
    again.add("plain", convert.item_to_json_bytes({"pk": {"S": "plain"}}))
    with transaction.atomic():
        writer.apply(collection.pk, again)
    stored = _stored(collection)
    assert stored["plain"] == {"pk": "plain"} and stored["new"] == _expected("new", 5) and len(stored) == 5
    _counters_match(collection)


def test_the_converter_refuses_what_is_not_a_dynamodb_value():
    for bad in ({"N": "12abc"}, {"N": "NaN"}, {"N": "Infinity"}, {}, {"X": "1"}):
        with pytest.raises(ValueError):
            convert.item_to_json({"a": bad})
    assert json.loads(convert.item_to_json({"a": {"N": "-0"}, "b": {"N": "0001.500"}})) == {"a": 0, "b": 1.5}


def test_a_replayed_page_and_a_delete_of_a_key_never_stored_leave_documents_and_counters_exact(collection):
    page = [
        writer.Change("kept", convert.item_to_json(_item("kept", 1)), AT),
        writer.Change("changed", convert.item_to_json(_item("changed", 2)), AT),
        writer.Change("gone", convert.item_to_json(_item("gone", 3)), AT),
        writer.Change("never", None, AT),
    ]
    for _ in range(2):  # the second time as after a crash before the checkpoint: nothing changes
        with transaction.atomic():
            writer.apply(collection.pk, page)
        assert _stored(collection) == {k: _expected(k, n) for n, k in enumerate(["kept", "changed", "gone"], 1)}
        _counters_match(collection)
    with transaction.atomic():
        writer.apply(
            collection.pk,
            [
                writer.Change("kept", convert.item_to_json(_item("kept", 1)), AT),
                writer.Change("changed", convert.item_to_json(_item("changed", 20)), AT),
                writer.Change("gone", None, AT),
                writer.Change("never", None, AT),
            ],
        )
    assert _stored(collection) == {"kept": _expected("kept", 1), "changed": _expected("changed", 20)}
    _counters_match(collection)
