"""What the wizard's htmx fragments and forms answer to parameters no page of ours sends: a 4xx or a
form error, never a 500, and never a request to a host made from the input."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse
from django.utils import timezone

from collections_app import services
from collections_app.models import Collection, Document, Source, Workspace
from integrations.models import Integration
from tests.collections_app.wizard import fill, post_step, step_url
from tests.conftest import ROLE_ARN, client_for


def make_integration(people, **fields) -> Integration:
    values = {"name": "prod", "scope": "all", "role_arn": ROLE_ARN, "status": Integration.Status.VALIDATED, **fields}
    return Integration.objects.create(organisation=people.acme, **values)


@pytest.fixture
def integration(people, aws):
    return make_integration(people)


@pytest.mark.parametrize("value", ["abc", "", "1.5", "-1", "1 OR 1=1"])
def test_a_fragment_for_an_integration_that_is_not_a_number_is_a_404(people, integration, value):
    client = client_for(people.alice)
    preview = client.get(reverse("collection_table_preview"), {"integration": value, "region": "us-east-1",
                                                               "table": "orders"})  # fmt: skip
    assert preview.status_code == 404
    stream = client.post(reverse("collection_enable_stream"), {"integration": value, "region": "us-east-1",
                                                               "table": "orders"})  # fmt: skip
    assert stream.status_code == 404
    if value:  # no integration chosen yet is the empty list, as before
        options = client.get(reverse("collection_table_options"), {"source-integration": value})
        assert options.status_code == 404


@pytest.mark.parametrize("region", ["bad region", "us-east-1.evil.com", "", "us-east-1\x00", "../../etc"])
def test_a_region_that_is_not_an_aws_region_is_a_400_and_no_aws_call(people, integration, region, monkeypatch):
    def no_aws(*args: object, **kwargs: object) -> None:
        raise AssertionError("AWS was called with a region no one checked")

    monkeypatch.setattr("collections_app.tables.preview_items", no_aws)
    monkeypatch.setattr("collections_app.tables.enable_stream", no_aws)
    client = client_for(people.alice)
    params = {"integration": integration.pk, "region": region, "table": "orders"}
    preview = client.get(reverse("collection_table_preview"), params)
    assert preview.status_code == 400 and "is not an AWS region" in preview.content.decode()
    stream = client.post(reverse("collection_enable_stream"), params)
    assert stream.status_code == 400 and "is not an AWS region" in stream.content.decode()


@pytest.mark.parametrize("region", ["bad region", "us-east-1.evil.com"])
def test_the_table_list_explains_a_region_that_is_not_one(people, integration, region, monkeypatch):
    monkeypatch.setattr("collections_app.tables.list_tables", lambda *a: (_ for _ in ()).throw(AssertionError()))
    options = client_for(people.alice).get(
        reverse("collection_table_options"), {"source-integration": integration.pk, "source-region": region}
    )
    assert options.status_code == 200
    assert "is not an AWS region; they look like us-east-1" in html.unescape(options.content.decode())


def test_a_table_name_that_is_not_one_is_a_400(people, integration):
    client = client_for(people.alice)
    for table in ["", "a", "orders/../x", "orders\x00"]:
        params = {"integration": integration.pk, "region": "us-east-1", "table": table}
        assert client.get(reverse("collection_table_preview"), params).status_code == 400


def test_an_integrations_region_restriction_holds_in_the_preview_and_enable_stream(people, aws):
    integration = make_integration(people, region="eu-west-1")
    client = client_for(people.alice)
    params = {"integration": integration.pk, "region": "us-east-1", "table": "customers"}
    assert client.get(reverse("collection_table_preview"), params).status_code == 404
    assert client.post(reverse("collection_enable_stream"), params).status_code == 404
    assert "StreamSpecification" not in aws.dynamodb.describe_table(TableName="customers")["Table"]


def test_the_wizard_reuses_a_deleted_collections_name(people, integration, monkeypatch):
    monkeypatch.setattr("ingest.tasks.start_initial_load.delay", lambda pk: None)
    client = client_for(people.alice)
    fill(client, integration)
    first = Collection.objects.get(name="orders")
    Document.objects.create(collection=first, doc_id="1", body={"id": "1"}, size_bytes=9, event_time=timezone.now())
    services.collection_delete(collection=first)
    response = fill(client, integration)
    assert response.status_code == 302 and response["Location"] == reverse(
        "collection_detail", args=["commons", "orders"]
    )
    assert "is created" in client.get(response["Location"]).content.decode()
    again = Collection.objects.get(name="orders")
    assert again.pk != first.pk and again.status == Collection.Status.CREATED
    assert not Document.objects.filter(collection_id=first.pk).exists()
    assert Source.objects.filter(collection=again).count() == 1


def test_a_new_workspace_with_a_trailing_newline_is_a_form_error(people, integration, monkeypatch):
    monkeypatch.setattr("ingest.tasks.start_initial_load.delay", lambda pk: None)
    client = client_for(people.alice)
    fill(client, integration, until="stream")
    for field, value in [("new_workspace", "team\nx"), ("name", "orders\nx")]:
        data = {"workspace": "commons", "new_workspace": "", "name": "orders", "poll_frequency": "1", field: value}
        response = post_step(client, "name", data)
        assert response.status_code == 200 and field in response.context["form"].errors
    assert not Workspace.objects.exclude(name="commons").exists()


@pytest.mark.parametrize("description", ["nul\x00here", "escape\x1b[31m", "bell\x07"])
def test_control_characters_in_a_description_are_a_form_error(people, integration, description):
    client = client_for(people.alice)
    fill(client, integration, until="stream")
    data = {"workspace": "commons", "name": "orders", "poll_frequency": "1", "description": description}
    response = post_step(client, "name", data)
    assert response.status_code == 200 and "description" in response.context["form"].errors
    assert not Collection.objects.exists()


def test_the_name_step_moves_on_with_a_plain_description(people, integration):
    client = client_for(people.alice)
    fill(client, integration, until="stream")
    data = {"workspace": "commons", "name": "orders", "poll_frequency": "1", "description": "two\nlines"}
    assert post_step(client, "name", data).status_code == 302
    assert client.get(step_url("review")).status_code == 200
