"""Export files → the database vs PostgreSQL COPY of the same documents, and peak memory on a big file.

The data file is written here in DynamoDB's export format (gzipped JSON lines of {"Item": …}) and read
from local disk by the production reader (ingest.export.load_stream), which takes any byte stream: the
S3 download is the same stream, so the figures are the reader's, the converter's and the database's.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from django.db import connection
from django.utils import timezone

from bench.locks import LockWaits
from bench.setup import bench_source, moto_client
from collections_app.models import Source
from ingest import convert
from ingest.models import ExportFile
from tests.ingest.engine import item, make_table

ROOT = Path(__file__).resolve().parent.parent
THROUGHPUT_ITEMS = 40_000
BIG_FILE_MB = int(os.environ.get("MILLRACE_BENCH_EXPORT_MB", 1024))


def _low_level(value: dict) -> dict:
    """boto3's bytes → the base64 text an export file carries."""
    return json.loads(json.dumps(value, default=lambda b: convert.binary(b)))


def write_export_file(
    path: Path, items: int, *, padding: int = 0, seed: int = 1, first: int = 0, until_bytes: int = 0
) -> tuple[int, int]:
    """A gzipped data file of `items` lines (or as many as make `until_bytes`), keys from `first` on;
    returns (items, uncompressed bytes)."""
    rng = random.Random(seed)
    size = 0
    n = first
    with gzip.open(path, "wt", compresslevel=1) as out:
        while (size < until_bytes) if until_bytes else (n < first + items):
            value = _low_level(item(n, rng))
            if padding:
                value["text"] = {"S": rng.randbytes(padding // 2).hex()}
            line = json.dumps({"Item": value}) + "\n"
            size += len(line)
            out.write(line)
            n += 1
    return n - first, size


def _export_source(name: str) -> Source:
    dynamodb = moto_client(os.environ["MILLRACE_AWS_ENDPOINT_URL"], "dynamodb")
    if name not in dynamodb.list_tables()["TableNames"]:
        make_table(dynamodb, name, 1)
    source = bench_source(name, rcu=1, name=name)
    Source.objects.filter(pk=source.pk).update(state=Source.State.DOWNLOADING_FROM_S3, load_started_at=timezone.now())
    return Source.objects.select_related("collection", "integration").get(pk=source.pk)


def load_file(source: Source, path: Path, items: int) -> float:
    """Seconds the production reader takes to load the file into the collection."""
    from ingest import export

    file = ExportFile.objects.create(source=source, key=path.name, item_count=items, md5_checksum="")
    file = ExportFile.objects.select_related("source__collection", "source__integration").get(pk=file.pk)
    owner = "bench"
    ExportFile.objects.filter(pk=file.pk).update(leased_by=owner, lease_expires_at=timezone.now() + timedelta(hours=1))
    start = time.perf_counter()
    with path.open("rb") as body:
        outcome = export.load_stream(file, body, owner)
    took = time.perf_counter() - start
    assert outcome == "done", outcome
    return took


def copy_baseline(path: Path, collection_id: int) -> tuple[float, int]:
    """The same documents, already converted, written by COPY into a table shaped like the documents'."""
    rows = []
    with gzip.open(path, "rb") as lines:
        for line in lines:
            value = json.loads(line)["Item"]
            body = convert.item_to_json(value)
            rows.append((convert.document_id(value, ["pk"]), body, len(body.encode())))
    return copy_seconds(rows, collection_id), len(rows)


def copy_seconds(rows: list[tuple[str, str, int]], collection_id: int) -> float:
    """How long PostgreSQL's COPY takes to write (doc_id, body, size) rows of `collection_id` into a table
    shaped like the documents': the baseline the export and stream-apply benchmarks are measured against.
    The table is new and empty, made LIKE the documents table INCLUDING ALL (its columns, defaults, checks
    and all four indexes: primary key, collection, (collection, doc_id) unique, the GIN on the body), plus
    the documents table's foreign key to its collection, which LIKE does not copy: every document written
    to the real table pays that check at commit, so the baseline pays it too. One COPY, one commit."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy")
        cursor.execute("CREATE TABLE bench_copy (LIKE collections_app_document INCLUDING ALL)")
        cursor.execute(
            "ALTER TABLE bench_copy ADD FOREIGN KEY (collection_id) REFERENCES collections_app_collection (id) "
            "DEFERRABLE INITIALLY DEFERRED"
        )
        start = time.perf_counter()
        with cursor.cursor.copy(
            "COPY bench_copy (collection_id, doc_id, body, size_bytes, event_time) FROM STDIN"
        ) as copy:
            for doc_id, body, size in rows:
                copy.write_row((collection_id, doc_id, body, size, now))
        took = time.perf_counter() - start
        cursor.execute("DROP TABLE bench_copy")
    return took


def throughput(tmp: Path) -> None:
    if connection.vendor != "postgresql":
        print("export → database: skipped, it compares with PostgreSQL COPY: set DATABASE_URL to a PostgreSQL")
        return
    path = tmp / "throughput.json.gz"
    write_export_file(path, THROUGHPUT_ITEMS)
    source = _export_source("bench_export")
    ours = load_file(source, path, THROUGHPUT_ITEMS)
    assert source.collection.documents.count() == THROUGHPUT_ITEMS
    copy_seconds, rows = copy_baseline(path, source.collection_id)
    ours_rate, copy_rate = THROUGHPUT_ITEMS / ours, rows / copy_seconds
    print(f"export → PostgreSQL: {THROUGHPUT_ITEMS:,} documents in {ours:.2f} s ({ours_rate:,.0f}/s), read, "
          f"converted and upserted; COPY of the same documents already converted {copy_seconds:.2f} s "
          f"({copy_rate:,.0f}/s)")  # fmt: skip
    print(f"export → PostgreSQL: one file at a time, ratio {ours_rate / copy_rate:.2f}x of COPY (goal >= 0.7x)")

    # As workers do: the export's files loaded at once, one process each (here as many as CPUs).
    processes = os.cpu_count() or 2
    per = THROUGHPUT_ITEMS // processes
    source = _export_source("bench_export_parallel")
    parts = []
    for i in range(processes):
        part = tmp / f"part{i}.json.gz"
        write_export_file(part, per, first=i * per, seed=10 + i)
        parts.append(part)
    with LockWaits() as waits:
        runs = [_in_child(source, part, per) for part in parts]
        reports = [run.communicate()[0].split() for run in runs]
    started, ended = min(float(r[2]) for r in reports), max(float(r[3]) for r in reports)
    rate = per * processes / (ended - started)
    assert source.collection.documents.count() == per * processes
    print(f"export → PostgreSQL: {processes} files at once, {per * processes:,} documents in {ended - started:.2f} s "
          f"({rate:,.0f}/s), ratio {rate / copy_rate:.2f}x of COPY (goal >= 1.5x); waiting for locks "
          f"{waits.share:.0%} of their transactions' time")  # fmt: skip


CHILD = (
    "import sys, django; django.setup(); from bench import export; "
    "export.child(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]))"
)


def _in_child(source: Source, path: Path, items: int) -> subprocess.Popen:
    command = [sys.executable, "-c", CHILD, str(source.pk), str(path), str(items)]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=os.environ)


def child(source_id: int, path: str, items: int) -> None:
    """In its own process: memory after set-up, peak memory, and when the load started and ended."""
    source = Source.objects.select_related("collection", "integration").get(pk=source_id)
    before = _max_rss_mb()
    started = time.time()
    load_file(source, Path(path), items)
    print(before, _max_rss_mb(), started, time.time())


def peak_memory(tmp: Path) -> None:
    """In a fresh process: its memory after set-up (the baseline), then its peak loading a big file."""
    path = tmp / "big.json.gz"
    start = time.perf_counter()
    items, size = write_export_file(path, 0, padding=1600, until_bytes=BIG_FILE_MB * 1024 * 1024)
    print(f"export memory: wrote a {size / 1024**2:,.0f} MB data file ({path.stat().st_size / 1024**2:,.0f} MB "
          f"gzipped, {items:,} items) in {time.perf_counter() - start:.0f} s")  # fmt: skip
    run = _in_child(_export_source("bench_export_big"), path, items)
    output = run.communicate()[0]
    if run.returncode:
        print("export memory: the loading process failed (its error is above)")
        return
    before, peak, started, ended = (float(x) for x in output.split())
    seconds = ended - started
    print(f"export memory: loading it took {seconds:.0f} s ({items / seconds:,.0f} items/s); peak RSS "
          f"{peak:,.0f} MB, {peak - before:,.0f} MB above the process's {before:,.0f} MB after set-up, "
          f"{peak / before:.2f}x (goal < 300 MB)")  # fmt: skip
    path.unlink()


def _max_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not getrusage's ru_maxrss: on Linux that carries
    over the parent's peak through fork and exec, so a child started by a big parent reports its size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(tmp: Path) -> None:
    tmp.mkdir(parents=True, exist_ok=True)
    throughput(tmp)
    peak_memory(tmp)
