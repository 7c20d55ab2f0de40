"""Apply changes to a collection's documents: batched upserts and deletes, with its counters kept current.

Callers run these inside their own transaction, together with the checkpoint that the change covers,
so a crash leaves either both or neither (invariant 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import F

from collections_app.models import Collection, Document
from ingest import convert


@dataclass(frozen=True)
class Change:
    doc_id: str
    body: str | None  # the document's JSON text (convert.item_to_json); None deletes it
    event_time: datetime


def apply(collection_id: int, changes: list[Change]) -> None:
    """Upsert and delete in one go. Within the batch the last change per document wins, in order."""
    if not changes:
        return
    latest: dict[str, Change] = {}
    for change in changes:
        latest[change.doc_id] = change
    # Serialise writers of one collection so the counters below see a consistent picture.
    Collection.objects.select_for_update().filter(pk=collection_id).values_list("pk", flat=True).get()
    existing = dict(
        Document.objects.filter(collection_id=collection_id, doc_id__in=list(latest)).values_list(
            "doc_id", "size_bytes"
        )
    )
    upserts = [c for c in latest.values() if c.body is not None]
    deletes = [c.doc_id for c in latest.values() if c.body is None and c.doc_id in existing]
    rows = [
        Document(
            collection_id=collection_id,
            doc_id=c.doc_id,
            body=convert.RawJSON(c.body),
            size_bytes=len(c.body.encode()),
            event_time=c.event_time,
        )
        for c in upserts
    ]
    if rows:
        Document.objects.bulk_create(
            rows,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["collection", "doc_id"],
            update_fields=["body", "size_bytes", "event_time"],
        )
    if deletes:
        Document.objects.filter(collection_id=collection_id, doc_id__in=deletes).delete()
    count_delta = sum(1 for r in rows if r.doc_id not in existing) - len(deletes)
    size_delta = sum(r.size_bytes - existing.get(r.doc_id, 0) for r in rows) - sum(existing[d] for d in deletes)
    Collection.objects.filter(pk=collection_id).update(
        doc_count=F("doc_count") + count_delta,
        total_size_bytes=F("total_size_bytes") + size_delta,
        last_updated_at=max(c.event_time for c in latest.values()),
    )
