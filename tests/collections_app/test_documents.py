"""The documents browser: a table with the key first, null vs empty vs missing told apart, sorted by key,
filtered by a field's value, counted in pages, and the selection downloaded as JSON lines, numbers exact."""

from __future__ import annotations

import html
import json
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from collections_app.models import Collection, Document, Source, Workspace
from ingest.convert import ExactJSONDecoder
from integrations.models import Integration
from tests.conftest import ROLE_ARN, client_for

URL = reverse("collection_documents", args=["commons", "orders"])
BIG = Decimal("12345678901234567890123456789012345678")


@pytest.fixture
def orders(people: SimpleNamespace) -> Collection:
    integration = Integration.objects.create(organisation=people.acme, name="prod", scope="all", role_arn=ROLE_ARN)
    workspace = Workspace.objects.create(organisation=people.acme, name="commons")
    collection = Collection.objects.create(workspace=workspace, name="orders", status=Collection.Status.READY)
    Source.objects.create(collection=collection, integration=integration, table_name="orders", region="us-east-1",
                          load_method="scan", key_schema=[{"AttributeName": "zid", "KeyType": "HASH"}])  # fmt: skip
    bodies = [
        {"zid": "o-1", "status": "shipped", "note": None, "total": BIG, "items": [{"sku": "a"}, {"sku": "b"}]},
        {"zid": "o-2", "status": "", "total": 42},
        {
            "zid": "o-3",
            "status": "open",
            "note": "ring twice",
            "total": 7,
            "gift": True,
            "ship": {"to": {"city": "Oslo"}},
            "ship.to": "dock 4",
        },
    ]
    for n in range(30):
        bodies.append({"zid": f"p-{n:02d}", "status": "open", "total": n})
    for body in bodies:
        Document.objects.create(collection=collection, doc_id=body["zid"], body=body, size_bytes=50,
                                event_time=timezone.now())  # fmt: skip
    collection.doc_count = len(bodies)
    collection.save()
    return collection


def text(response) -> str:
    return html.unescape(response.content.decode())


def header_cells(page: str) -> list[str]:
    head = page.split("<thead>")[1].split("</thead>")[0]
    return [cell.split("<code>")[1].split("</code>")[0] for cell in head.split("<th")[1:]]


def test_the_key_comes_first_then_the_fields_most_documents_have(orders, people):
    page = text(client_for(people.bob).get(URL))
    assert header_cells(page)[:4] == ["_id", "zid", "status", "total"]
    assert set(header_cells(page)) >= {"note", "items", "gift"}
    assert "page 1 of 2" in page


def test_null_empty_and_missing_look_different_and_nested_values_are_collapsed(orders, people):
    page = text(client_for(people.bob).get(URL))
    first_row = page.split('<th scope="row"><code>o-1</code></th>')[1].split("</tr>")[0]
    assert '<td class="cell-null">null</td>' in first_row
    assert "<details><summary>[2 items]</summary>" in first_row
    assert f'<td class="cell-number">{BIG}</td>' in first_row  # all 38 digits
    second_row = page.split('<th scope="row"><code>o-2</code></th>')[1].split("</tr>")[0]
    assert '<td class="cell-empty">""</td>' in second_row and '<td class="cell-missing">—</td>' in second_row


def test_it_sorts_by_key_both_ways(orders, people):
    client = client_for(people.bob)
    assert text(client.get(URL, {"sort": "desc"})).index("p-29") < text(client.get(URL, {"sort": "desc"})).index("p-28")
    ascending = text(client.get(URL))
    assert ascending.index("<code>o-1</code>") < ascending.index("<code>o-2</code>") and "p-29" not in ascending


def test_it_filters_by_a_fields_value_as_text_number_or_boolean(orders, people):
    client = client_for(people.bob)
    shipped = text(client.get(URL, {"field": "status", "value": "shipped"}))
    assert "1 matching document ·" in shipped and "o-1" in shipped and "o-3" not in shipped
    assert "o-2" in text(client.get(URL, {"field": "total", "value": "42"}))
    gifts = text(client.get(URL, {"field": "gift", "value": "true"}))
    assert "1 matching document" in gifts and "o-3" in gifts
    assert "No document has colour = red." in text(client.get(URL, {"field": "colour", "value": "red"}))
    assert "A field name is letters" in text(client.get(URL, {"field": "body__x", "value": "1"}))
    nested = text(client.get(URL, {"field": "ship.to.city", "value": "Oslo"}))  # a path into nested maps
    assert "1 matching document" in nested and "o-3" in nested
    dotted = text(client.get(URL, {"field": "ship.to", "value": "dock 4"}))  # a top-level name with a dot
    assert "1 matching document" in dotted and "o-3" in dotted


def test_the_download_is_the_selection_as_json_lines_with_exact_numbers(orders, people):
    client = client_for(people.bob)
    response = client.get(URL, {"field": "status", "value": "open", "sort": "desc", "format": "jsonl"})
    assert response["Content-Disposition"] == 'attachment; filename="commons.orders-status-open.jsonl"'
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 31 and json.loads(lines[0])["zid"] == "p-29"
    response = client.get(URL, {"format": "jsonl"})
    assert response["Content-Disposition"] == 'attachment; filename="commons.orders.jsonl"'
    everything = b"".join(response.streaming_content).decode().splitlines()
    assert json.loads(everything[0], cls=ExactJSONDecoder)["total"] == BIG and len(everything) == 33


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"field": "ship.to.city", "value": "Oslo"}, "commons.orders-ship.to.city-Oslo.jsonl"),
        ({"field": "status", "value": ""}, "commons.orders-status-empty.jsonl"),
        ({"field": "note", "value": 'ring "twice"/2'}, "commons.orders-note-ring_twice_2.jsonl"),
        ({"field": "status", "value": "x" * 100}, f"commons.orders-status-{'x' * 40}.jsonl"),
        ({"zid": "o-3"}, "commons.orders-zid-o-3.jsonl"),
    ],
)
def test_a_filtered_download_is_named_for_its_filter(orders, people, params, name):
    response = client_for(people.bob).get(URL, {**params, "format": "jsonl"})
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'


def test_a_key_lookup_shows_the_whole_document(orders, people):
    page = text(client_for(people.bob).get(URL, {"zid": "o-3"}))
    assert '"note": "ring twice"' in page and "p-01" not in page
