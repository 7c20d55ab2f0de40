"""Lists of collections (the console's list and overview, the API's lists) read every collection's lag in one
query: their cost doesn't grow with the number of collections, and the figures are the collection page's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from collections_app.models import Collection, Source, Workspace
from console.models import Heartbeat
from console.services import api_key_create
from ingest import clock, health
from ingest.models import Shard
from integrations.models import Integration
from tests.conftest import ROLE_ARN, client_for

PAGES = ["/collections/", "/"]
API = ["/v1/orgs/self/collections", "/v1/orgs/self/ws/commons/collections", "/v1/orgs/self/integrations"]


def following(people, count: int) -> list[Source]:
    """`count` live collections with two shards each: the even ones caught up, the odd ones 25 min behind."""
    integration = Integration.objects.create(organisation=people.acme, name="prod", scope="all", role_arn=ROLE_ARN,
                                             status=Integration.Status.VALIDATED)  # fmt: skip
    workspace, _ = Workspace.objects.get_or_create(organisation=people.acme, name=Workspace.DEFAULT_NAME)
    now = clock.now()
    sources = []
    for n in range(count):
        collection = Collection.objects.create(workspace=workspace, name=f"c{n}", status=Collection.Status.READY)
        behind = n % 2 == 1
        last_record = now - timedelta(minutes=25 if behind else 0, seconds=5)
        source = Source.objects.create(
            collection=collection, integration=integration, table_name=f"table{n}", region="us-east-1",
            load_method=Source.LoadMethod.SCAN, rcu=5, state=Source.State.PROCESSING_STREAM,
            load_started_at=now - timedelta(hours=1), load_finished_at=now - timedelta(hours=1),
            stream_last_record_at=last_record,
        )  # fmt: skip
        for shard in ("shardId-1", "shardId-2"):
            Shard.objects.create(source=source, stream_arn="arn:s", shard_id=shard, caught_up=not behind,
                                 last_read_at=now - timedelta(seconds=1))  # fmt: skip
        sources.append(source)
    return sources


def queries(client: Client, path: str) -> int:
    Heartbeat._cache.clear()  # read at most once a second: on a slow machine a second may pass between lists
    with CaptureQueriesContext(connection) as context:
        response = client.get(path)
    assert response.status_code == 200, path
    # Reads only: a session's or key's last use is written now and then (when a slow machine lets its
    # interval pass between two requests), and has nothing to do with how many collections are listed.
    return sum(q["sql"].lstrip().upper().startswith("SELECT") for q in context.captured_queries)


@pytest.mark.parametrize("path", PAGES + API)
def test_a_list_of_twenty_collections_takes_as_many_queries_as_a_list_of_one(people, path):
    _, key = api_key_create(user=people.alice, organisation=people.acme, name="scripts")
    client = Client(HTTP_AUTHORIZATION=f"ApiKey {key}") if path in API else client_for(people.alice)
    sources = following(people, 1)
    queries(client, path)  # the first request of a session or key may write its last use: not counted
    one = queries(client, path)
    Collection.objects.filter(pk=sources[0].collection_id).delete()
    Integration.objects.filter(organisation=people.acme).delete()
    following(people, 20)
    assert queries(client, path) == one


def test_the_list_shows_each_collections_own_lag(people):
    following(people, 4)
    page = client_for(people.alice).get("/collections/").content.decode()
    rows = page.split("<tr>")[2:]  # after the header row
    assert [("25 min behind" in row, "caught up" in row) for row in rows] == [(False, True), (True, False)] * 2


def test_the_overview_counts_the_behind_ones_as_needing_attention(people):
    following(people, 5)
    context = client_for(people.alice).get("/").context
    assert (context["collection_count"], context["live_count"], context["troubled_count"]) == (5, 3, 2)


def test_the_apis_list_gives_the_lag_the_collection_alone_gives(people):
    sources = following(people, 4)
    _, key = api_key_create(user=people.alice, organisation=people.acme, name="scripts")
    client = Client(HTTP_AUTHORIZATION=f"ApiKey {key}")
    listed = {c["name"]: c for c in client.get("/v1/orgs/self/collections").json()["data"]}
    for source in sources:
        alone = client.get(f"/v1/orgs/self/ws/commons/collections/{source.collection.name}").json()["data"]
        in_list = listed[source.collection.name]
        lag_ms = in_list["sources"][0]["dynamodb"]["current_status"]["stream_lag_ms"]
        assert lag_ms == alone["sources"][0]["dynamodb"]["current_status"]["stream_lag_ms"]
        assert lag_ms == int(Source.objects.get(pk=source.pk).stream_lag_seconds * 1000)
        assert in_list["status"] == alone["status"] == "READY"
    assert sorted(c["sources"][0]["dynamodb"]["current_status"]["stream_lag_ms"] for c in listed.values()) == [
        0, 0, 1_505_000, 1_505_000
    ]  # fmt: skip


def test_a_paused_or_loading_collection_needs_no_shard_query(people):
    sources = following(people, 2)
    Source.objects.filter(pk=sources[0].pk).update(suspended_at=clock.now())
    Source.objects.filter(pk=sources[1].pk).update(state=Source.State.SCANNING, load_finished_at=None)
    collections = Collection.objects.for_organisation(people.acme).prefetch_related("sources")
    with CaptureQueriesContext(connection) as context:
        shown = [h.words for _, _, h in health.healths(collections)]
    assert shown == ["paused", "scanning"]
    assert not [q for q in context.captured_queries if Shard._meta.db_table in q["sql"]]
