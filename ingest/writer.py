"""Apply changes to a collection's documents: batched upserts and deletes, with its counters kept current.

Callers run these inside their own transaction, together with the checkpoint that the change covers,
so a crash leaves either both or neither (invariant 5).

A collection's writers (its source's shards, export files or Scan segments) write side by side: nothing
locks the collection before its documents are written, and its counters are updated last (`_count`), an
UPDATE that holds the collection's row until commit, so writers wait for each other only there. The
counts stay exact because each batch counts what its own statements found and the counter update adds
its deltas to the row as committed: the units a source reads at once hold disjoint parts of the table's
keys (a Scan's segments split the key space, an export holds each item once, and an item's stream
records are in one shard, whose parent is read to its end before it), so no two batches in flight meet
the same document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest

from collections_app.models import Collection, Document
from ingest import convert


@dataclass(frozen=True)
class Change:
    doc_id: str
    body: str | None  # the document's JSON text (convert.item_to_json); None deletes it
    event_time: datetime


class CopyRows:
    """Documents to upsert as PostgreSQL COPY text, one line each, built straight from the converter's
    bytes (no Python row objects): how export files reach PostgreSQL. Document ids are distinct (the
    caller starts a new batch at a repeat), so the upsert needs no de-duplication. Each line carries the
    collection, so the same text can go straight into the documents table (see apply)."""

    __slots__ = ("collection_id", "count", "event_time", "size", "text", "_ids", "_prefix", "_suffix")

    def __init__(self, event_time: datetime, collection_id: int) -> None:
        self.text = bytearray()
        self.count = 0
        self.size = 0  # the documents' bytes, as size_bytes counts them
        self.event_time = event_time
        self.collection_id = collection_id
        self._ids: set[str] = set()
        self._prefix = b"%d\t" % collection_id
        self._suffix = f"\t{event_time.isoformat()}\n".encode()

    def __len__(self) -> int:
        return self.count

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self._ids

    def add(self, doc_id: str, body: bytes) -> None:
        """`body` is orjson's output: control characters are always escaped in it, so only its
        backslashes need doubling for COPY's text format."""
        self._ids.add(doc_id)
        self.count += 1
        self.size += len(body)
        escaped = body.replace(b"\\", b"\\\\")
        self.text += b"%b%b\t%b\t%d%b" % (self._prefix, copy_field(doc_id.encode()), escaped, len(body), self._suffix)

    @classmethod
    def of(cls, changes: list[Change], collection_id: int) -> CopyRows:
        """Changes from Change objects (stream images, Scan pages), bodies escaped in full. A delete is a
        line without a body (NULL): the staging table carries a stream page's deletes with its upserts."""
        rows = cls(changes[0].event_time, collection_id)
        for change in changes:
            if change.body is None:
                body, size = b"\\N", b"\\N"
            else:
                encoded = change.body.encode()
                body, size = copy_field(encoded), b"%d" % len(encoded)
                rows.size += len(encoded)
            rows.count += 1
            rows.text += b"%b%b\t%b\t%b\t%b\n" % (
                rows._prefix,
                copy_field(change.doc_id.encode()),
                body,
                size,
                change.event_time.isoformat().encode(),
            )
        return rows


def copy_field(value: bytes) -> bytes:
    """A value in COPY's text format: backslash and the three characters it would read as separators."""
    if b"\\" in value:
        value = value.replace(b"\\", b"\\\\")
    if b"\n" in value or b"\r" in value or b"\t" in value:
        value = value.replace(b"\n", b"\\n").replace(b"\r", b"\\r").replace(b"\t", b"\\t")
    return value


@dataclass
class Staged:
    """A batch made ready before any lock is taken: on PostgreSQL a list of changes (upserts and deletes)
    is already in this session's staging table (COPY, the costly part: every document parsed as jsonb), so
    the locks that serialise a collection's writers cover only the statements that touch shared rows."""

    count: int  # the changes in the batch, as given
    copied: bool  # upserts and deletes in the staging table (PostgreSQL)
    upserts: list[Change]  # upserts for the ORM (SQLite)
    deletes: list[str]  # deletes for the ORM (SQLite)
    last_change: datetime | None
    rows: CopyRows | None = None  # an export batch: tried straight into the documents table

    def __len__(self) -> int:
        return self.count


def stage(changes: list[Change] | CopyRows, collection_id: int) -> Staged:
    """Within the caller's transaction, before its locks. The last change per document wins, in order."""
    if isinstance(changes, CopyRows):
        return Staged(len(changes), False, [], [], changes.event_time, rows=changes)
    latest: dict[str, Change] = {}
    for change in changes:
        latest[change.doc_id] = change
    last_change = max((c.event_time for c in latest.values()), default=None)
    if latest and connection.vendor == "postgresql":
        _copy_in(CopyRows.of(list(latest.values()), collection_id))  # the deletes too: one statement applies both
        return Staged(len(changes), True, [], [], last_change)
    upserts = [c for c in latest.values() if c.body is not None]
    deletes = [c.doc_id for c in latest.values() if c.body is None]
    return Staged(len(changes), False, upserts, deletes, last_change)


def apply(collection_id: int, changes: list[Change] | CopyRows | Staged) -> None:
    """Upsert and delete in one go, the collection's counters with them. Within the batch the last
    change per document wins, in order."""
    staged = changes if isinstance(changes, Staged) else stage(changes, collection_id)
    if not staged.count or staged.last_change is None:
        return
    if staged.rows is not None:
        added, size_delta = _insert_or_upsert(collection_id, staged.rows)
    elif staged.copied:
        added, size_delta = _apply_staged(collection_id)  # its deletes too: staged.deletes is empty
    elif staged.upserts:
        added, size_delta = _upsert_orm(collection_id, staged.upserts)
    else:
        added, size_delta = 0, 0
    removed, removed_size = _delete(collection_id, staged.deletes)
    _count(collection_id, added - removed, size_delta - removed_size, staged.last_change)


def _insert_or_upsert(collection_id: int, rows: CopyRows) -> tuple[int, int]:
    """An export batch by COPY straight into the documents table: a load fills a collection that its
    start emptied, with each key once, so this is the common case and costs what COPY costs. If any
    document is already there (a key repeated across files), the savepoint undoes the COPY and the
    batch is upserted through the staging table instead, its counts exact either way."""
    import psycopg

    assert rows.collection_id == collection_id, "rows built for another collection"
    try:
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {Document._meta.db_table} ({COLUMNS}) FROM STDIN") as copy,
        ):
            copy.write(rows.text)
        return rows.count, rows.size
    except psycopg.errors.UniqueViolation:
        _copy_in(rows)
        return _apply_staged(collection_id)


COLUMNS = "collection_id, doc_id, body, size_bytes, event_time"


def _count(collection_id: int, documents: int, size_bytes: int, last_change: datetime) -> None:
    """The collection's counters, after its documents: the first lock on the collection's row, held to
    commit, so the collection's other writers wait only for the rest of this transaction (see the module's
    docstring). Relative updates: each adds to the row as the last writer committed it."""
    Collection.objects.filter(pk=collection_id).update(
        doc_count=F("doc_count") + documents,
        total_size_bytes=F("total_size_bytes") + size_bytes,
        last_updated_at=never_earlier("last_updated_at", last_change),
    )


def never_earlier(field: str, moment: datetime) -> Greatest:
    """The later of the stored time and `moment`: a replay applies changes older than the load's own
    writes, and shards are read side by side, so "last change" would otherwise go backwards."""
    return Greatest(Coalesce(F(field), Value(moment)), Value(moment))


def _delete(collection_id: int, doc_ids: list[str]) -> tuple[int, int]:
    """(documents deleted, their bytes)."""
    if not doc_ids:
        return 0, 0
    documents = Document.objects.filter(collection_id=collection_id, doc_id__in=doc_ids)
    sizes = list(documents.values_list("size_bytes", flat=True))
    documents.delete()
    return len(sizes), sum(sizes)


def _upsert_orm(collection_id: int, upserts: list[Change]) -> tuple[int, int]:
    """(documents added, bytes added) through the ORM: any database."""
    existing = dict(
        Document.objects.filter(collection_id=collection_id, doc_id__in=[c.doc_id for c in upserts]).values_list(
            "doc_id", "size_bytes"
        )
    )
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
    Document.objects.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["collection", "doc_id"],
        update_fields=["body", "size_bytes", "event_time"],
    )
    added = sum(1 for r in rows if r.doc_id not in existing)
    return added, sum(r.size_bytes - existing.get(r.doc_id, 0) for r in rows)


def _copy_in(rows: CopyRows) -> None:
    """The documents into this session's staging table. Commit and rollback empty it; the DELETE is for a
    second batch in one transaction (tests run in one), and costs next to nothing on an empty table where
    TRUNCATE, a new file and catalog rows every time, cost more than the COPY of a page (bench/stream_apply)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS millrace_staged (collection_id bigint, doc_id text, body jsonb, "
            "size_bytes integer, event_time timestamptz) ON COMMIT DELETE ROWS; DELETE FROM millrace_staged"
        )
        with cursor.cursor.copy(f"COPY millrace_staged ({COLUMNS}) FROM STDIN") as copy:
            copy.write(rows.text)


def _apply_staged(collection_id: int) -> tuple[int, int]:
    """(documents added less those deleted, bytes added less those deleted) from the staging table, in one
    statement: rows with a body are upserted, rows without one deleted. What was there before is looked
    up key by key in the unique index, never by a join the planner could turn into a scan of the whole
    collection (a temporary table has no statistics, and a growing collection's are often stale): a page
    costs the same in a collection of a thousand documents or of a hundred million. A document whose body
    is already the stored one (a replay after a crash or a lease taken over) is left as it is: no new row
    version, no index entries, and its event time stays that of the change that wrote it."""
    table = Document._meta.db_table
    with connection.cursor() as cursor:
        # The CTEs share one snapshot: `old` sees the documents as they were before the insert and delete.
        cursor.execute(
            f"""
            WITH old AS MATERIALIZED (  -- read once: it is aggregated twice below
                SELECT i.body IS NULL AS gone, i.size_bytes AS new_size,
                       (SELECT d.size_bytes FROM {table} d WHERE d.collection_id = %(c)s AND d.doc_id = i.doc_id)
                       AS old_size
                FROM millrace_staged i
            ), written AS (
                INSERT INTO {table} (collection_id, doc_id, body, size_bytes, event_time)
                SELECT %(c)s, doc_id, body, size_bytes, event_time FROM millrace_staged WHERE body IS NOT NULL
                ON CONFLICT (collection_id, doc_id) DO UPDATE
                SET body = EXCLUDED.body, size_bytes = EXCLUDED.size_bytes, event_time = EXCLUDED.event_time
                WHERE ({table}.body, {table}.size_bytes) IS DISTINCT FROM (EXCLUDED.body, EXCLUDED.size_bytes)
            ), deleted AS (
                DELETE FROM {table} WHERE id = ANY(ARRAY(
                    SELECT (SELECT d.id FROM {table} d WHERE d.collection_id = %(c)s AND d.doc_id = i.doc_id)
                    FROM millrace_staged i WHERE i.body IS NULL
                ))
            )
            SELECT count(*) FILTER (WHERE NOT gone) - count(old_size),
                   coalesce(sum(new_size), 0) - coalesce(sum(old_size), 0)
            FROM old
            """,
            {"c": collection_id},
        )
        documents, size_delta = cursor.fetchone()
    return int(documents), int(size_delta)
