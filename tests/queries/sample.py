"""Acme's `commons.orders`: five small documents that between them have every shape a field can take
(number, fraction, string where a number is expected, nested object, array, null, missing, 38 digits),
mirrored from a table as any collection is (a source following its stream)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from collections_app.models import Collection, Document, Source, Workspace
from console.models import Organisation
from integrations.models import Integration

BIG = 12345678901234567890123456789012345678
ORDERS = [
    {"id": "1", "status": "shipped", "amount": 10, "customer": {"name": "Ann", "tier": "gold"}, "tags": ["a", "b"],
     "note": None},
    {"id": "2", "status": "shipped", "amount": Decimal("25.5"), "customer": {"name": "Bob", "tier": "silver"},
     "tags": ["b"]},
    {"id": "3", "status": "pending", "amount": 40, "customer": {"name": "cat", "tier": "gold"}},
    {"id": "4", "status": "cancelled", "amount": 5, "customer": {"name": "Dan"}, "big": BIG},
    {"id": "5", "status": "pending", "amount": "n/a", "customer": {"name": "Eve"}},
]  # fmt: skip

CUSTOMERS = [{"id": "Ann", "city": "Oslo"}, {"id": "Bob", "city": "Rome"}, {"id": "Zed", "city": "Lima"}]


def add_collection(organisation: Organisation, workspace: str, name: str, documents: list[dict]) -> Collection:
    space, _ = Workspace.objects.get_or_create(organisation=organisation, name=workspace)
    collection = Collection.objects.create(workspace=space, name=name, status=Collection.Status.READY)
    applied = datetime(2026, 1, 1, tzinfo=UTC)
    integration, _ = Integration.objects.get_or_create(
        organisation=organisation, name="sample", defaults={"scope": "all", "status": Integration.Status.VALIDATED}
    )
    Source.objects.create(
        collection=collection, integration=integration, table_name=name, region="us-east-1",
        load_method=Source.LoadMethod.SCAN, state=Source.State.PROCESSING_STREAM, load_started_at=applied,
        load_finished_at=applied, stream_last_processed_at=applied,
    )  # fmt: skip
    Document.objects.bulk_create(
        Document(collection=collection, doc_id=d["id"], body=d, size_bytes=100, event_time=applied) for d in documents
    )
    return collection
