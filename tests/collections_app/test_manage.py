"""A collection on day two: edit, re-sync and delete from the console (each asking first), the same through
the API where Rockset's client has it, and the admin's delete for the operator."""

from __future__ import annotations

import html
import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from collections_app.models import Collection, Document, Source, Workspace
from console.models import Membership
from console.services import api_key_create
from integrations.models import Integration
from tests.conftest import PASSWORD, ROLE_ARN, client_for

FOLDER = "exports/AWSDynamoDB/0001"


@pytest.fixture
def orders(people: SimpleNamespace, aws: SimpleNamespace) -> Source:
    """Acme's commons.orders, loaded by Export (its files still in the bucket), with two documents."""
    integration = Integration.objects.create(
        organisation=people.acme, name="prod", scope="all", role_arn=ROLE_ARN, s3_bucket="millrace-exports",
        status=Integration.Status.VALIDATED,
    )  # fmt: skip
    workspace = Workspace.objects.create(organisation=people.acme, name="commons")
    collection = Collection.objects.create(
        workspace=workspace, name="orders", status=Collection.Status.READY, doc_count=2, total_size_bytes=8192
    )
    for doc_id in ("a", "b"):
        Document.objects.create(collection=collection, doc_id=doc_id, body={"id": doc_id}, size_bytes=10,
                                event_time="2026-12-01T10:00:00Z")  # fmt: skip
    s3 = aws.session.client("s3")
    for key in ("manifest-summary.json", "data/one.json.gz", "data/two.json.gz"):
        s3.put_object(Bucket="millrace-exports", Key=f"{FOLDER}/{key}", Body=b"x")
    s3.put_object(Bucket="millrace-exports", Key="exports/other.txt", Body=b"not ours")
    return Source.objects.create(
        collection=collection, integration=integration, table_name="orders", region="us-east-1",
        load_method=Source.LoadMethod.EXPORT, key_schema=[{"AttributeName": "id", "KeyType": "HASH"}],
        state=Source.State.PROCESSING_STREAM, load_finished_at="2026-12-01T10:00:00Z", export_folder=FOLDER,
        table_item_count=2, table_size_bytes=8192,
    )  # fmt: skip


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    started: list[int] = []
    monkeypatch.setattr("ingest.tasks.start_initial_load.delay", started.append)
    return started


def url(name: str, *extra: str) -> str:
    return reverse(name, args=["commons", "orders", *extra])


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def test_the_detail_page_offers_edit_resync_and_delete_to_members_only(orders, people):
    shown = page_text(client_for(people.bob).get(url("collection_detail")))
    for label in (">Edit<", ">Re-sync<", ">Delete<", ">Pause<"):
        assert label in shown
    rita = get_user_model().objects.create_user("rita", "rita@acme.test", PASSWORD)
    Membership.objects.create(organisation=people.acme, user=rita, role="read_only")
    read_only = client_for(rita)
    assert ">Delete<" not in page_text(read_only.get(url("collection_detail")))
    assert read_only.post(url("collection_delete"), {"confirm_name": "orders"}).status_code == 403
    assert Collection.objects.get(pk=orders.collection_id).status == Collection.Status.READY


def test_a_member_edits_the_description_and_the_poll_frequency(orders, people):
    client = client_for(people.bob)
    form = page_text(client.get(url("collection_edit")))
    assert "Stream poll frequency (seconds)" in form and "Read capacity" not in form  # an export has no RCU
    response = client.post(url("collection_edit"), {"description": "EU orders", "poll_frequency": "2.5"}, follow=True)
    assert "Saved the changes to commons.orders" in page_text(response) and "every 2.5 s" in page_text(response)
    source = Source.objects.get(pk=orders.pk)
    assert source.poll_frequency_ms == 2500 and source.collection.description == "EU orders"


def test_a_scan_collections_rcu_is_bounded_by_the_table(orders, people):
    Source.objects.filter(pk=orders.pk).update(load_method="scan", rcu=5, provisioned_rcu=100)
    client = client_for(people.bob)
    refused = page_text(client.post(url("collection_edit"), {"rcu": "500", "poll_frequency": "1"}))
    assert "less than or equal to 100" in refused and Source.objects.get(pk=orders.pk).rcu == 5
    client.post(url("collection_edit"), {"rcu": "40", "poll_frequency": "1"})
    assert Source.objects.get(pk=orders.pk).rcu == 40
    history = page_text(client.get(url("collection_detail")))  # the change is in the collection's history
    assert "Settings changed" in history and "read capacity 5 → 40 RCU/s" in history
    assert "poll frequency" not in history  # unchanged, so not said


def test_a_finished_scan_shows_the_rate_it_ran_at_not_an_rcu_edited_since(orders, people):
    Source.objects.filter(pk=orders.pk).update(
        load_method="scan", rcu=50, provisioned_rcu=100, state=Source.State.SCANNING, load_finished_at=None,
        load_started_at=timezone.now() - timedelta(seconds=100), rcu_consumed=2230,
    )  # fmt: skip
    client = client_for(people.bob)
    assert "22.3 RCU/s of 50 allowed" in page_text(client.get(url("collection_status")))  # while it runs
    Source.objects.filter(pk=orders.pk).update(state=Source.State.PROCESSING_STREAM, load_finished_at=timezone.now())
    client.post(url("collection_edit"), {"rcu": "30", "poll_frequency": "1"})  # for the next re-sync
    assert Source.objects.get(pk=orders.pk).rcu == 30
    shown = page_text(client.get(url("collection_status")))
    assert "22.3 RCU/s on average" in shown and "allowed" not in shown


def test_resync_says_what_it_costs_then_starts_over_only_when_confirmed(orders, people, queued):
    Source.objects.filter(pk=orders.pk).update(load_method="scan", rcu=2, provisioned_rcu=10)
    client = client_for(people.bob)
    asked = page_text(client.get(url("collection_resync")))
    assert "Re-sync commons.orders?" in asked and "removes the collection's 2 documents" in asked
    assert "about 2 read units" in asked and "under a minute at 2 RCU" in asked
    assert Document.objects.count() == 2 and queued == []  # asking changed nothing
    response = client.post(url("collection_resync"), {"rcu": "4"}, follow=True)
    assert "Re-syncing commons.orders" in page_text(response)
    source = Source.objects.get(pk=orders.pk)
    assert (source.state, source.rcu, Document.objects.count()) == (Source.State.INITIALIZING, 4, 0)


def test_delete_needs_the_name_typed_and_may_delete_the_exports_files(orders, people, aws):
    client = client_for(people.bob)
    asked = page_text(client.get(url("collection_delete")))
    assert "Delete commons.orders?" in asked and f"s3://millrace-exports/{FOLDER}/" in asked
    wrong = page_text(client.post(url("collection_delete"), {"confirm_name": "order"}))
    assert "Type “orders” exactly" in wrong and Collection.objects.get().status == Collection.Status.READY
    response = client.post(
        url("collection_delete"), {"confirm_name": "orders", "delete_export_files": "on"}, follow=True
    )
    shown = page_text(response)
    assert "Deleted commons.orders. Deleted the export's 3 files" in shown and "No collections yet" in shown
    assert Collection.objects.get().status == Collection.Status.DELETED
    left = aws.session.client("s3").list_objects_v2(Bucket="millrace-exports")["Contents"]
    assert [o["Key"] for o in left] == ["exports/other.txt"]


def test_delete_keeps_the_exports_files_unless_asked(orders, people, aws):
    client_for(people.bob).post(url("collection_delete"), {"confirm_name": "commons.orders"})
    assert Collection.objects.get().status == Collection.Status.DELETED
    assert len(aws.session.client("s3").list_objects_v2(Bucket="millrace-exports")["Contents"]) == 4


def test_pause_and_deleting_export_files_ask_first(orders, people):
    client = client_for(people.bob)
    asked = page_text(client.get(url("collection_action", "pause")))
    assert "Pause commons.orders?" in asked and "resume within that" in asked
    assert Source.objects.get(pk=orders.pk).suspended_at is None
    asked = page_text(client.get(url("collection_action", "delete-export")))
    assert f"from s3://millrace-exports/{FOLDER}/ in your AWS account" in asked
    assert Source.objects.get(pk=orders.pk).export_deleted_at is None
    client.post(url("collection_action", "pause"))
    assert Source.objects.get(pk=orders.pk).suspended_at is not None


def test_the_api_updates_the_description_and_refuses_field_mappings(orders, people):
    _, key = api_key_create(user=people.bob, organisation=people.acme, name="script")
    path = "/v1/orgs/self/ws/commons/collections/orders"
    headers = {"HTTP_AUTHORIZATION": f"ApiKey {key}", "content_type": "application/json"}
    answer = client_for(people.bob).put(path, json.dumps({"description": "from a script"}), **headers)
    assert answer.status_code == 200 and answer.json()["data"]["description"] == "from a script"
    refused = client_for(people.bob).put(path, json.dumps({"field_mapping_query": {"sql": "SELECT 1"}}), **headers)
    assert refused.status_code == 400 and "`field_mapping_query` is not supported" in refused.json()["message"]


def test_the_operator_deletes_a_collection_in_the_admin(orders, people):
    people.alice.is_superuser = people.alice.is_staff = True
    people.alice.save()
    client = client_for(people.alice)
    path = reverse("admin:collections_app_collection_delete", args=[orders.collection_id])
    asked = page_text(client.get(path))
    assert "Collection commons.orders and its 2 documents" in asked and "permission" not in asked
    client.post(path, {"post": "yes"})
    assert Collection.objects.get().status == Collection.Status.DELETED
    assert client.get(reverse("admin:collections_app_collection_add")).status_code == 403  # the wizard creates them


@pytest.mark.parametrize(
    ("endpoint", "wait"), [(None, "five minutes or more"), ("http://127.0.0.1:5055", "about 20 s on the sandbox")]
)
def test_an_export_says_how_long_it_takes_where_it_runs(orders, people, settings, endpoint, wait):
    settings.MILLRACE_AWS_ENDPOINT_URL, settings.MILLRACE_SANDBOX_EXPORT_SECONDS = endpoint, 20.0
    Source.objects.filter(pk=orders.pk).update(state=Source.State.EXPORTING_TO_S3, load_finished_at=None)
    Collection.objects.filter(pk=orders.collection_id).update(status=Collection.Status.CREATED)
    client = client_for(people.bob)
    status = page_text(client.get(url("collection_status")))
    assert f"DynamoDB is exporting the table to S3 ({wait})." in status and f"(exports take {wait})" in status
    Source.objects.filter(pk=orders.pk).update(state=Source.State.PROCESSING_STREAM, load_finished_at=timezone.now())
    resync = page_text(client.get(url("collection_resync")))
    assert f"{wait} for DynamoDB's export, then the download" in resync
    if endpoint:
        assert "five minutes" not in status + resync
