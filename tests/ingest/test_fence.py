"""Many writers of one collection at once (a source's shards, an export's files), each on its own
connection under READ COMMITTED, with a pause and a re-sync racing them: the writers go side by side,
the lifecycle's changes wait for the commits in flight and are seen by the next ones, nothing is lost,
nothing lands after a re-sync began, and the counters match the documents."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db.models import Sum

from collections_app.models import Collection, Document, Source
from collections_app.services import source_pause, source_resume, source_resync
from ingest import convert, events, export, initial_load, leases, lifecycle, stream, writer
from ingest.models import ExportFile, Shard, SourceEvent
from tests.ingest.engine import (
    assert_equal_to_table,
    create_source,
    loaded,
    make_table,
    stream_pages,
    wait_until_due,
)
from tests.ingest.test_races import another_backend_waits_on_a_lock, in_thread, needs_postgresql, pause_and_resume

pytestmark = pytest.mark.django_db(transaction=True)

ATTEMPTS = 2000  # a writer's tries at one page, each after a pause or re-sync turned it away


def pages(shard: int, records: int) -> list[list[dict[str, Any]]]:
    return stream_pages(shard, records, per_page=10)


def final_documents(shard_pages: list[list[dict[str, Any]]]) -> dict[str, Any]:
    documents: dict[str, Any] = {}
    for record in (r for page in shard_pages for r in page):
        doc_id = convert.document_id(record["dynamodb"]["Keys"], ["pk"])
        if record["eventName"] == "REMOVE":
            documents.pop(doc_id, None)
        else:
            documents[doc_id] = convert.item_to_document(record["dynamodb"]["NewImage"])
    return documents


def new_shard(source: Source, n: int) -> Shard:
    shard = Shard.objects.create(source=source, stream_arn=source.stream_arn, shard_id=f"shardId-race-{n:02d}")
    return Shard.objects.select_related("source__collection", "source__integration").get(pk=shard.pk)


def write_shard(shard: Shard, shard_pages: list[list[dict[str, Any]]], outcome: list[str]) -> None:
    """What a shard's worker does with each page: commit it under its lease, or read it again once the
    pause is over (a pause releases the lease); stop when a re-sync took the shard away."""
    owner = leases.new_owner()
    for page in shard_pages:
        for _ in range(ATTEMPTS):
            if not Shard.objects.filter(pk=shard.pk).exists():
                outcome.append("re-synced")
                return
            leases.claim(Shard, shard.pk, owner)
            if stream._commit(shard, owner, page, at_tip=False, next_iterator="iterator"):
                break
        else:
            outcome.append("never committed")
            return
    outcome.append("done")


def assert_counters_match_documents(collection_id: int) -> None:
    collection = Collection.objects.get(pk=collection_id)
    documents = Document.objects.filter(collection_id=collection_id)
    assert collection.doc_count == documents.count()
    assert collection.total_size_bytes == (documents.aggregate(total=Sum("size_bytes"))["total"] or 0)


def test_two_shards_of_one_collection_commit_side_by_side(people, integration, aws, monkeypatch):
    """One shard's commit, stopped just before its counters, doesn't hold up the other shard's commit."""
    needs_postgresql()
    source = loaded(people, integration, aws)
    first, second = new_shard(source, 0), new_shard(source, 1)
    first_pages, second_pages = pages(0, 10), pages(1, 10)
    real_count, counting, other_committed = writer._count, threading.Event(), threading.Event()
    waited: list[bool] = []

    def count_after_the_other(*args: Any) -> None:
        if threading.current_thread() is not threading.main_thread():  # the first shard's writer
            counting.set()
            waited.append(other_committed.wait(timeout=60))
        real_count(*args)

    monkeypatch.setattr("ingest.writer._count", count_after_the_other)
    outcomes: list[str] = []
    writing = in_thread(write_shard, first, first_pages, outcomes)
    assert counting.wait(timeout=60)
    write_shard(second, second_pages, outcomes)
    other_committed.set()
    writing.join(timeout=120)
    assert waited == [True]  # the second shard committed while the first held its fence
    assert sorted(outcomes) == ["done", "done"]
    expected = {**final_documents(first_pages), **final_documents(second_pages)}
    documents = dict(Document.objects.filter(collection_id=source.collection_id).values_list("doc_id", "body"))
    assert {k: documents[k] for k in expected if k in documents} == expected
    assert_counters_match_documents(source.collection_id)


def test_shards_writing_while_the_source_pauses_and_resumes_lose_nothing(people, integration, aws):
    needs_postgresql()
    source = loaded(people, integration, aws)
    before = set(Document.objects.filter(collection_id=source.collection_id).values_list("doc_id", flat=True))
    source.refresh_from_db()
    applied, deletes = source.stream_records_applied, source.user_deletes
    work = [(new_shard(source, n), pages(n, 120)) for n in range(3)]
    outcomes: list[str] = []
    failures: list[BaseException] = []

    threads = [in_thread(write_shard, shard, shard_pages, outcomes) for shard, shard_pages in work]
    threads.append(in_thread(pause_and_resume, source.pk, 15, failures))
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, failures
    assert outcomes == ["done"] * 3
    expected: dict[str, Any] = {}
    for _, shard_pages in work:
        expected.update(final_documents(shard_pages))
    documents = dict(Document.objects.filter(collection_id=source.collection_id).values_list("doc_id", "body"))
    assert documents.keys() == before | expected.keys()
    assert all(documents[k] == v for k, v in expected.items())
    assert_counters_match_documents(source.collection_id)
    records = [r for _, shard_pages in work for page in shard_pages for r in page]
    source.refresh_from_db()
    assert source.stream_records_applied - applied == len(records)
    assert source.user_deletes - deletes == sum(r["eventName"] == "REMOVE" for r in records)
    for shard, shard_pages in work:
        assert Shard.objects.get(pk=shard.pk).records_applied == sum(len(page) for page in shard_pages)


def test_a_resync_while_shards_write_keeps_nothing_they_write_after_it(people, integration, aws):
    needs_postgresql()
    source = loaded(people, integration, aws)
    work = [(new_shard(source, n), pages(n, 400)) for n in range(2)]
    outcomes: list[str] = []
    threads = [in_thread(write_shard, shard, shard_pages, outcomes) for shard, shard_pages in work]
    for _ in range(ATTEMPTS):  # both shards under way, then pause, resume and re-sync
        if Shard.objects.filter(pk__in=[s.pk for s, _ in work], records_applied__gt=0).count() == 2:
            break
    source_pause(source=Source.objects.get(pk=source.pk))
    source_resume(source=Source.objects.get(pk=source.pk))
    source_resync(source=Source.objects.get(pk=source.pk))
    for thread in threads:
        thread.join(timeout=300)
    assert sorted(outcomes) in (["re-synced", "re-synced"], ["done", "re-synced"], ["done", "done"])
    collection = Collection.objects.get(pk=source.collection_id)
    assert Document.objects.filter(collection=collection).count() == 0
    assert (collection.doc_count, collection.total_size_bytes) == (0, 0)
    source.refresh_from_db()
    assert (source.stream_records_applied, source.user_deletes) == (0, 0)
    assert not Shard.objects.filter(source=source).exists()


def exporting(people, integration, aws, items: int) -> Source:
    """A source whose export is written and listed: its files are ready to load."""
    make_table(aws.dynamodb, "t", items)
    source = create_source(people.acme, people.alice, integration, "t", method="export", may_enable_pitr=True)
    initial_load.start(source.pk)
    for _ in range(ATTEMPTS):
        source.refresh_from_db()
        if source.state != Source.State.EXPORTING_TO_S3:
            break
        time.sleep(0.01)  # moto writes the export in a thread, in real time
        export.poll(source.pk)
    assert source.state == Source.State.DOWNLOADING_FROM_S3
    return source


def load_files(file_ids: list[int], outcomes: list[str]) -> None:
    """A worker loading its files, each again after a pause turned it away (or took its lease), until
    done or re-synced (the file is gone)."""
    for file_id in file_ids:
        for _ in range(ATTEMPTS):
            outcome = export.load_file(file_id)
            if outcome == "backoff":  # AWS hiccuped: the next try when it's due, as the supervisor would
                wait_until_due(ExportFile, file_id)
            if outcome == "done" or not ExportFile.objects.filter(pk=file_id).exists():
                outcomes.append(outcome if outcome == "done" else "re-synced")
                break
        else:
            outcomes.append("never loaded")


@pytest.mark.usefixtures("exports")
def test_files_loading_at_once_while_the_source_pauses_count_exactly_and_finish_once(
    people, integration, aws, monkeypatch
):
    needs_postgresql()
    monkeypatch.setattr(export, "BATCH_LINES", 2)  # several commits a file
    source = exporting(people, integration, aws, 84)
    files = list(ExportFile.objects.filter(source=source).order_by("pk").values_list("pk", flat=True))
    assert len(files) == 12
    outcomes: list[str] = []
    failures: list[BaseException] = []

    threads = [in_thread(load_files, files[0::2], outcomes), in_thread(load_files, files[1::2], outcomes)]
    threads.append(in_thread(pause_and_resume, source.pk, 10, failures))
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, failures
    assert outcomes == ["done"] * 12
    source.refresh_from_db()
    assert source.state == Source.State.PROCESSING_STREAM
    assert source.items_loaded == 84
    assert SourceEvent.objects.filter(source=source, kind=events.Kind.LOAD_FINISHED).count() == 1
    assert_equal_to_table(source, aws.dynamodb)
    assert_counters_match_documents(source.collection_id)


@pytest.mark.usefixtures("exports")
def test_a_resync_while_files_load_keeps_nothing_they_load_after_it(people, integration, aws, monkeypatch):
    needs_postgresql()
    monkeypatch.setattr(export, "BATCH_LINES", 1)
    source = exporting(people, integration, aws, 140)
    files = list(ExportFile.objects.filter(source=source).order_by("pk").values_list("pk", flat=True))
    outcomes: list[str] = []
    threads = [in_thread(load_files, files[0::2], outcomes), in_thread(load_files, files[1::2], outcomes)]
    for _ in range(ATTEMPTS):
        if ExportFile.objects.filter(pk__in=files, lines_done__gt=0).count() >= 2:
            break
    source_resync(source=Source.objects.get(pk=source.pk))
    for thread in threads:
        thread.join(timeout=300)
    assert "re-synced" in outcomes and "never loaded" not in outcomes
    collection = Collection.objects.get(pk=source.collection_id)
    assert Document.objects.filter(collection=collection).count() == 0
    assert (collection.doc_count, collection.total_size_bytes) == (0, 0)
    source.refresh_from_db()
    assert (source.state, source.items_loaded) == (Source.State.INITIALIZING, 0)
    assert not ExportFile.objects.filter(source=source).exists()


STOPPING = {
    "pause": lambda source: source_pause(source=source),
    "failure": lambda source: lifecycle.stop(source, "AccessDeniedException: not allowed"),
    "delete": lambda source: lifecycle.delete(source.collection_id),
}


@pytest.mark.parametrize("stopping", list(STOPPING))
def test_a_stop_waits_for_the_commit_in_flight_and_the_next_commit_sees_it(
    people, integration, aws, monkeypatch, stopping
):
    needs_postgresql()
    source = loaded(people, integration, aws)
    shard = new_shard(source, 0)
    first, second = pages(0, 20)
    real_count, counting, go_on = writer._count, threading.Event(), threading.Event()

    def count_when_told(*args: Any) -> None:
        counting.set()
        go_on.wait(timeout=60)
        real_count(*args)

    monkeypatch.setattr("ingest.writer._count", count_when_told)
    owner = leases.new_owner()
    leases.claim(Shard, shard.pk, owner)
    committed: list[bool] = []
    writing = in_thread(lambda: committed.append(stream._commit(shard, owner, first, at_tip=False, next_iterator="i")))
    assert counting.wait(timeout=60)
    stopper = in_thread(STOPPING[stopping], Source.objects.get(pk=source.pk))
    assert another_backend_waits_on_a_lock()  # it waits for the commit's fence
    go_on.set()
    writing.join(timeout=120)
    stopper.join(timeout=120)
    assert committed == [True]
    leases.claim(Shard, shard.pk, owner)
    assert not stream._commit(shard, owner, second, at_tip=False, next_iterator="i")  # stopped: nothing written
    assert Shard.objects.get(pk=shard.pk).records_applied == len(first)
    assert_counters_match_documents(source.collection_id)
