"""/metrics scraped while a real worker (a process of its own, with beat) loads and follows a table: the
counters the worker's processes write are summed by the web process (prometheus-client's multiprocess
mode), and the per-collection figures match the collection."""

from __future__ import annotations

import random

import pytest
from django.test import Client

from collections_app.models import Collection
from tests.e2e.test_live_sync import equal_to_table, wait_for, worker_env
from tests.ingest.engine import create_source, item, make_table
from tests.processes import celery_worker
from tests.scrape import scrape, value

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
C = {"organisation": "Acme", "workspace": "commons", "collection": "c"}
BEHIND = "millrace_collection_behind_source_milliseconds"
APPLIED = "millrace_records_applied_total"


def test_a_scrape_during_a_load_and_stream_shows_what_the_worker_did(
    people, e2e_integration, moto_server, broker, tmp_path, settings
):
    make_table(moto_server.dynamodb, "t", 120)
    source = create_source(people.acme, people.alice, e2e_integration, "t", rcu=40)
    with celery_worker(broker, beat=True, log=tmp_path / "worker.log", **worker_env(moto_server, tmp_path)):
        wait_for(
            lambda: Collection.objects.get(pk=source.collection_id).status == Collection.Status.READY,
            what="the collection to be READY",
        )
        before = scrape(settings)
        rng = random.Random(7)
        for n in range(2000, 2030):
            moto_server.dynamodb.put_item(TableName="t", Item=item(n, rng))
        moto_server.dynamodb.delete_item(TableName="t", Key={"pk": {"S": "item-00003"}})
        wait_for(lambda: equal_to_table(source, moto_server.dynamodb), what="the changes to arrive")
        wait_for(lambda: value(scrape(settings), BEHIND, **C) < 3000, what="behind-source to fall under 3 s")
        after = scrape(settings)
        ready = Client().get("/readyz")
    assert ready.status_code == 200, ready.json()
    collection = Collection.objects.get(pk=source.collection_id)
    assert value(after, "millrace_collection_documents", **C) == collection.doc_count == 149
    assert value(after, "millrace_collection_state", **C, state="PROCESSING_STREAM") == 1
    # Counted in the worker's processes, summed here: the web process applied nothing itself.
    assert value(after, APPLIED, kind="insert") - value(before, APPLIED, kind="insert") >= 30
    assert value(after, APPLIED, kind="remove") - value(before, APPLIED, kind="remove") >= 1
    get_records = {"service": "dynamodb-streams", "operation": "GetRecords"}
    assert value(after, "millrace_aws_calls_total", **get_records) > value(
        before, "millrace_aws_calls_total", **get_records
    )
    assert value(after, "millrace_aws_calls_total", service="dynamodb", operation="Scan") >= 1
    assert value(after, "millrace_supervisor_tick_seconds_count") >= 1
