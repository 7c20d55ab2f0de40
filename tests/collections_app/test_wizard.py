from __future__ import annotations

import html
import re

import pytest
from botocore.exceptions import EndpointConnectionError
from django.urls import reverse

from collections_app.models import Collection, Source, Workspace
from integrations.models import Integration
from tests.collections_app.wizard import fill, post_step, step_url
from tests.conftest import ROLE_ARN, client_for


@pytest.fixture
def integration(people, aws):
    return Integration.objects.create(
        organisation=people.acme,
        name="prod",
        scope="all",
        role_arn=ROLE_ARN,
        s3_bucket="millrace-exports",
        status=Integration.Status.VALIDATED,
    )


@pytest.fixture
def provisioned(aws):
    aws.dynamodb.create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 100, "WriteCapacityUnits": 5},
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    aws.dynamodb.put_item(
        TableName="ledger",
        Item={
            "pk": {"S": "acct-1"},
            "sk": {"N": "1"},
            "amount": {"N": "12345678901234567890.123456789012345678"},
            "blob": {"B": b"\x00\xffhello"},
            "tags": {"SS": ["a", "b"]},
            "nums": {"NS": ["1.50", "2"]},
            "nested": {"M": {"l": {"L": [{"NULL": True}, {"BOOL": True}]}}},
            "empty": {"S": ""},
        },
    )
    return "ledger"


def test_it_creates_a_scan_collection_and_queues_its_load(
    people, integration, provisioned, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr("ingest.tasks.start_initial_load.delay", queued.append)
    client = client_for(people.alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = fill(client, integration, table=provisioned, method={"load_method": "scan", "rcu": 40})
    collection = Collection.objects.get()
    assert response["Location"] == reverse("collection_detail", args=["commons", "orders"])
    source = collection.source
    assert (source.table_name, source.region, source.load_method, source.rcu) == ("ledger", "us-east-1", "scan", 40)
    assert source.state == Source.State.INITIALIZING and collection.status == Collection.Status.CREATED
    assert source.key_names == ["pk", "sk"] and source.provisioned_rcu == 100
    assert queued == [source.pk]
    page = client.get(response["Location"]).content.decode()
    assert "Waiting for a worker to start the initial load" in page and "Table Scan at up to 40 RCU" in page


def test_it_creates_an_export_collection_in_a_new_workspace(people, integration, aws, monkeypatch):
    monkeypatch.setattr("ingest.tasks.start_initial_load.delay", lambda pk: None)
    aws.dynamodb.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    fill(
        client_for(people.alice),
        integration,
        method={"load_method": "export"},
        name={
            "workspace": "commons",
            "new_workspace": "analytics",
            "name": "orders-mirror",
            "description": "d",
            "poll_frequency": "0.25",
        },
    )
    collection = Collection.objects.get()
    assert collection.workspace.name == "analytics" and collection.workspace.organisation == people.acme
    assert collection.source.load_method == "export" and collection.source.rcu is None
    assert collection.source.poll_frequency_ms == 250


def test_the_only_integration_is_chosen_already_and_one_of_two_is_not(people, integration):
    client = client_for(people.alice)
    Integration.objects.create(organisation=people.acme, name="draft", scope="all", role_arn=ROLE_ARN)  # not validated
    page = client.get(step_url("source")).content.decode()
    assert f'<option value="{integration.pk}" selected>prod</option>' in page
    Integration.objects.create(organisation=people.acme, name="staging", scope="all", role_arn=ROLE_ARN,
                               status=Integration.Status.VALIDATED, region="eu-west-1")  # fmt: skip
    page = client.get(step_url("source")).content.decode()
    assert f'<option value="{integration.pk}">prod</option>' in page  # two to choose from: none chosen
    assert '<option value="" selected>Choose an integration</option>' in page


def test_the_only_integrations_own_region_is_filled_in(people, integration):
    Integration.objects.filter(pk=integration.pk).update(region="eu-west-1")
    page = client_for(people.alice).get(step_url("source")).content.decode()
    assert re.search(r'<input [^>]*name="source-region"[^>]*value="eu-west-1"', page)


def test_the_table_list_says_when_aws_is_out_of_reach_instead_of_failing(people, integration, monkeypatch):
    def unreachable(*args, **kwargs):  # assuming the role: STS can't be reached
        raise EndpointConnectionError(endpoint_url="https://sts.amazonaws.com/")

    monkeypatch.setattr("integrations.aws.integration_client", unreachable)
    response = client_for(people.alice).get(
        reverse("collection_table_options"), {"source-integration": integration.pk, "source-region": "us-east-1"}
    )
    assert response.status_code == 200
    assert "Couldn't list tables in us-east-1: EndpointConnectionError: Could not connect to AWS." in html.unescape(
        response.content.decode()
    )


def test_the_source_step_lists_tables_in_scope(people, integration, provisioned):
    client = client_for(people.alice)
    page = client.get(
        reverse("collection_table_options"), {"source-integration": integration.pk, "source-region": "us-east-1"}
    ).content.decode()
    assert all(f'<option value="{t}">' in page for t in ["orders", "customers", "ledger"])
    integration.scope, integration.table_name = "prefix", "ord"
    integration.save()
    page = client.get(reverse("collection_table_options"), {"source-integration": integration.pk}).content.decode()
    assert '<option value="orders">' in page and "customers" not in page


def test_the_table_step_shows_the_summary(people, integration, provisioned):
    client = client_for(people.alice)
    fill(client, integration, table=provisioned, until="source")
    page = client.get(step_url("table")).content.decode()
    for text in [
        "Provisioned, 100 RCU",
        "<code>pk</code> (partition key, S)",
        "<code>sk</code> (sort key, N)",
        "NEW_AND_OLD_IMAGES",
        "about every six hours",
    ]:
        assert text in page


def test_the_preview_shows_the_tables_key_first_then_the_rest_by_name(people, integration, provisioned):
    client = client_for(people.alice)
    fill(client, integration, table=provisioned, until="source")
    page = client.get(step_url("table")).content.decode()
    link = html.unescape(re.search(r'<a href="([^"]+)">Show the preview</a>', page).group(1))
    assert f'hx-get="{html.escape(link)}"' in page  # the page loads the same preview by itself
    preview = client.get(link, HTTP_HX_REQUEST="true")
    assert preview.context["columns"] == ["pk", "sk", "amount", "blob", "empty", "nested", "nums", "tags"]
    header = re.search(r"<thead><tr>(.*?)</tr></thead>", preview.content.decode()).group(1)
    assert re.findall(r"<th>(.*?)</th>", header)[:3] == ["pk", "sk", "amount"]


def test_the_preview_converts_exactly_as_stored(people, integration, provisioned):
    response = client_for(people.alice).get(
        reverse("collection_table_preview"),
        {"integration": integration.pk, "region": "us-east-1", "table": provisioned},
        HTTP_HX_REQUEST="true",
    )
    json_text = response.context["json_text"]
    assert '"amount": 12345678901234567890.123456789012345678' in json_text
    assert '"blob": "AP9oZWxsbw=="' in json_text
    assert '"nums": [\n      1.5,\n      2\n    ]' in json_text
    assert '"empty": ""' in json_text and "null" in json_text
    assert "<html" not in response.content.decode()  # a fragment for htmx


def test_the_preview_shows_access_denied_in_place(people, integration, provisioned, faults):
    faults.access_denied("dynamodb", "Scan", "dynamodb:Scan")
    response = client_for(people.alice).get(
        reverse("collection_table_preview"),
        {"integration": integration.pk, "region": "us-east-1", "table": provisioned},
    )
    page = html.unescape(response.content.decode())
    assert response.status_code == 200
    assert "not authorized to perform: dynamodb:Scan" in page and "dynamodb:Scan" in page
    assert "<html" in page  # without htmx it is a whole page


def test_the_recommendation_follows_the_table_size(people, integration, provisioned):
    from collections_app import capacity
    from collections_app.tables import describe_table

    summary = describe_table(integration, "us-east-1", provisioned)
    assert capacity.recommend(summary, has_bucket=False).method == "scan"
    summary.size_bytes = 100 * 1024**2  # 100 MB at 50 RCU: about 11 minutes, slower than an export's set-up
    assert capacity.recommend(summary, has_bucket=True).method == "export"
    summary.size_bytes = 10 * 1024**2  # 10 MB: about a minute
    assert capacity.recommend(summary, has_bucket=True).method == "scan"
    summary.size_bytes = 6 * 1024**3
    assert "5 GB" in capacity.recommend(summary, has_bucket=True).reason


def test_the_method_step_offers_a_slider_up_to_the_tables_rcu(people, integration, provisioned):
    client = client_for(people.alice)
    fill(client, integration, table=provisioned, until="table")
    page = client.get(step_url("method")).content.decode()
    assert 'type="range"' in page and 'max="100"' in page and 'value="50"' in page
    assert 'label="50%"' in page and "may be throttled" in page
    assert "data-size-bytes" in page
    assert "takes five minutes or more to set up" in page  # an export, on AWS


def test_on_demand_tables_get_a_number_and_a_cost_note(people, integration):
    client = client_for(people.alice)
    fill(client, integration, table="orders", until="table")
    page = client.get(step_url("method")).content.decode()
    assert 'type="number"' in page and 'max="40000"' in page and "read request units" in page


@pytest.mark.parametrize(("rcu", "ok"), [(0, False), (1, True), (100, True), (101, False), ("", False)])
def test_rcu_outside_the_range_is_refused(people, integration, provisioned, rcu, ok):
    client = client_for(people.alice)
    fill(client, integration, table=provisioned, until="table")
    response = post_step(client, "method", {"load_method": "scan", "rcu": rcu})
    assert (response.status_code == 302) is ok
    if not ok:
        assert response.context["form"].errors["rcu"]


def test_export_without_a_bucket_is_refused(people, integration):
    integration.s3_bucket = ""
    integration.save()
    client = client_for(people.alice)
    fill(client, integration, until="table")
    page = client.get(step_url("method")).content.decode()
    assert "has no S3 bucket" in page and "unavailable" in page
    response = post_step(client, "method", {"load_method": "export"})
    assert "Export needs an S3 bucket" in str(response.context["form"].errors)


def test_export_with_pitr_off_needs_permission_to_turn_it_on(people, integration):
    client = client_for(people.alice)
    fill(client, integration, until="table")
    response = post_step(client, "method", {"load_method": "export"})
    assert "point-in-time recovery" in " ".join(response.context["form"].errors["may_enable_pitr"])
    assert post_step(client, "method", {"load_method": "export", "may_enable_pitr": "on"}).status_code == 302


def test_a_table_without_a_stream_gets_an_offer_and_cannot_be_created(people, integration, aws):
    client = client_for(people.alice)
    fill(client, integration, table="customers", until="method")
    page = client.get(step_url("stream")).content.decode()
    assert "Turn the stream on for me" in page
    assert "--stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES" in page
    response = post_step(client, "stream", {})
    assert "needs the table's stream on" in html.unescape(response.content.decode())
    response = client.post(
        reverse("collection_enable_stream"),
        {"integration": integration.pk, "region": "us-east-1", "table": "customers"},
        follow=True,
    )
    assert "is on, with view type NEW_AND_OLD_IMAGES" in response.content.decode()
    assert aws.dynamodb.describe_table(TableName="customers")["Table"]["StreamSpecification"]["StreamEnabled"]
    assert post_step(client, "stream", {}).status_code == 302


def test_enabling_the_stream_without_permission_shows_the_manual_steps(people, integration, aws, faults):
    faults.access_denied("dynamodb", "UpdateTable", "dynamodb:UpdateTable")
    client = client_for(people.alice)
    fill(client, integration, table="customers", until="method")
    response = client.post(
        reverse("collection_enable_stream"),
        {"integration": integration.pk, "region": "us-east-1", "table": "customers"},
        follow=True,
    )
    page = html.unescape(response.content.decode())
    assert "couldn't turn the stream on" in page and "Exports and streams" in page


def test_a_keys_only_stream_is_explained(people, integration, aws):
    aws.dynamodb.create_table(
        TableName="keysonly",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    client = client_for(people.alice)
    fill(client, integration, table="keysonly", until="method")
    page = client.get(step_url("stream")).content.decode()
    assert "can't be changed in place" in page and "KEYS_ONLY" in page
    assert post_step(client, "stream", {}).status_code == 200
    assert not Collection.objects.exists()


@pytest.mark.parametrize(("name", "message"), [("has space", "letters, digits"), ("x" * 101, "100 characters")])
def test_a_malformed_name_is_refused(people, integration, name, message):
    client = client_for(people.alice)
    fill(client, integration, until="stream")
    response = post_step(client, "name", {"workspace": "commons", "name": name, "poll_frequency": "1"})
    assert message in str(response.context["form"].errors)


def test_a_duplicate_name_in_the_workspace_is_refused(people, integration, monkeypatch):
    monkeypatch.setattr("ingest.tasks.start_initial_load.delay", lambda pk: None)
    client = client_for(people.alice)
    fill(client, integration)
    fill(client, integration, until="stream")
    response = post_step(client, "name", {"workspace": "commons", "name": "orders", "poll_frequency": "1"})
    assert "already has a collection named" in " ".join(response.context["form"].errors["name"])
    assert (
        post_step(
            client, "name", {"workspace": "commons", "new_workspace": "other", "name": "orders", "poll_frequency": "1"}
        ).status_code
        == 302
    )


@pytest.mark.parametrize("frequency", ["0.1", "301"])
def test_poll_frequency_outside_range_is_refused(people, integration, frequency):
    client = client_for(people.alice)
    fill(client, integration, until="stream")
    response = post_step(client, "name", {"workspace": "commons", "name": "o", "poll_frequency": frequency})
    assert response.context["form"].errors["poll_frequency"]


def test_a_table_outside_the_scope_or_missing_is_refused(people, integration, aws):
    integration.scope, integration.table_name = "table", "orders"
    integration.save()
    client = client_for(people.alice)
    response = post_step(
        client, "source", {"integration": integration.pk, "region": "us-east-1", "table_name": "customers"}
    )
    assert "outside this integration's scope" in " ".join(response.context["form"].errors["table_name"])
    integration.scope = "all"
    integration.save()
    response = post_step(client, "source", {"integration": integration.pk, "region": "us-east-1", "table_name": "gone"})
    assert "no table named “gone”" in " ".join(response.context["form"].errors["table_name"])


def test_a_table_that_vanishes_between_steps_is_reported_and_nothing_is_created(people, integration, aws):
    client = client_for(people.alice)
    fill(client, integration, until="name")
    aws.dynamodb.delete_table(TableName="orders")
    response = client.get(step_url("review"), follow=True)
    assert "no table named “orders”" in response.content.decode()
    assert response.redirect_chain[-1][0] == step_url("source")
    assert not Collection.objects.exists() and not Workspace.objects.exists()


def test_another_organisations_integration_is_not_offered_or_accepted(people, integration):
    client = client_for(people.carol)
    page = client.get(step_url("source")).content.decode()
    assert "prod" not in page and "need a validated integration" in page
    response = post_step(
        client, "source", {"integration": integration.pk, "region": "us-east-1", "table_name": "orders"}
    )
    assert "integration" in response.context["form"].errors
    assert client.get(reverse("collection_table_options"), {"source-integration": integration.pk}).status_code == 404
    assert (
        client.get(reverse("collection_table_preview"), {"integration": integration.pk, "table": "orders"}).status_code
        == 404
    )
    response = client.post(reverse("collection_enable_stream"), {"integration": integration.pk, "table": "orders"})
    assert response.status_code == 404


def test_draft_integrations_are_not_offered(people, integration):
    integration.status = Integration.Status.DRAFT
    integration.save()
    response = post_step(
        client_for(people.alice),
        "source",
        {"integration": integration.pk, "region": "us-east-1", "table_name": "orders"},
    )
    assert "integration" in response.context["form"].errors


def test_back_and_forward_keep_what_was_entered(people, integration, provisioned):
    client = client_for(people.alice)
    fill(client, integration, table=provisioned, until="table")
    post_step(client, "method", {"load_method": "scan", "rcu": 77}, wizard_goto_step="table")
    assert 'value="77"' in client.get(step_url("method")).content.decode()
    assert 'value="ledger"' in client.get(step_url("source")).content.decode()


def test_the_review_shows_everything_chosen(people, integration, provisioned):
    client = client_for(people.alice)
    fill(client, integration, table=provisioned, method={"load_method": "scan", "rcu": 30}, until="name")
    page = client.get(step_url("review")).content.decode()
    for text in [
        "commons.orders",
        "prod",
        "<code>ledger</code> in us-east-1",
        "Table Scan at up to 30 RCU",
        "every 1 s",
    ]:
        assert text in page


def test_collection_pages_are_scoped_to_the_organisation(people, integration, monkeypatch):
    monkeypatch.setattr("ingest.tasks.start_initial_load.delay", lambda pk: None)
    fill(client_for(people.alice), integration)
    url = reverse("collection_detail", args=["commons", "orders"])
    assert client_for(people.bob).get(url).status_code == 200
    assert client_for(people.carol).get(url).status_code == 404
    assert "orders" not in client_for(people.carol).get(reverse("collection_list")).content.decode().split("<main")[1]
    listing = client_for(people.bob).get(reverse("collection_list")).content.decode()
    assert "Table Scan" in listing and "starting" in listing


def test_the_collection_list_makes_a_bounded_number_of_queries(
    people, integration, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr("ingest.tasks.start_initial_load.delay", lambda pk: None)
    client = client_for(people.alice)
    for n in range(5):
        fill(client, integration, name={"workspace": "commons", "name": f"c{n}", "poll_frequency": "1"})
    with django_assert_max_num_queries(8):
        client.get(reverse("collection_list"))


def test_the_collection_page_opens_the_query_editor_with_a_starter_query(people, integration, monkeypatch):
    monkeypatch.setattr("ingest.tasks.start_initial_load.delay", lambda pk: None)
    client = client_for(people.alice)
    fill(client, integration)
    page = client.get(reverse("collection_detail", args=["commons", "orders"])).content.decode()
    link = "/queries/?sql=SELECT%20%2A%0AFROM%20commons.orders%0ALIMIT%2010&amp;describe=commons.orders"
    assert f'href="{link}">Query</a>' in page
    editor = client.get(link.replace("&amp;", "&")).content.decode()
    assert "FROM commons.orders\nLIMIT 10</textarea>" in editor and "Fields of <code>commons.orders</code>" in editor


def test_the_name_step_proposes_the_tables_name(people, integration, monkeypatch):
    client = client_for(people.alice)
    fill(client, integration, until="stream")
    page = client.get(step_url("name")).content.decode()
    assert 'name="name-name" value="orders"' in page
