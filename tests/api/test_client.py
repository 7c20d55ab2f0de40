"""Every endpoint through Rockset's official client (2.1.2) against a live server: its models check the
type of every field we return, and its typed exceptions are what users' scripts catch."""

from __future__ import annotations

import json

import pytest
from rockset.exceptions import BadRequestException, NotFoundException, UnauthorizedException
from rockset.models import AwsAccessKey, AwsRole, DynamodbIntegration, DynamodbSourceWrapper, SourceDynamoDbSettings

from collections_app.models import Collection, Source
from console.sandbox import moto_exports
from ingest import initial_load
from integrations.models import Integration
from tests.api.conftest import rockset_client
from tests.conftest import ACCESS_KEY_ID, ROLE_ARN, SECRET_ACCESS_KEY

pytestmark = pytest.mark.django_db(transaction=True)


def error_of(excinfo: pytest.ExceptionInfo) -> dict:
    return json.loads(excinfo.value.body)


def role_integration(rs, name: str = "prod", bucket: str | None = None):
    dynamodb = DynamodbIntegration(aws_role=AwsRole(aws_role_arn=ROLE_ARN))
    if bucket:
        dynamodb.s3_export_bucket_name = bucket
    return rs.Integrations.create_dynamodb_integration(name=name, dynamodb=dynamodb).data


def scan_source(table: str = "orders", integration: str = "prod", **extra) -> DynamodbSourceWrapper:
    fields = {"aws_region": "us-east-1", "use_scan_api": True, "rcu": 5, **extra}
    return DynamodbSourceWrapper(integration_name=integration, table_name=table, **fields)


def test_the_organisation_is_the_keys_own(rs, people):
    org = rs.Organizations.get().data
    assert org.display_name == "Acme" and org.external_id == people.acme.external_id and org.id == str(people.acme.pk)


def test_workspaces_are_listed_created_fetched_and_deleted(rs):
    assert [w.name for w in rs.Workspaces.list().data] == ["commons"]
    created = rs.Workspaces.create(name="analytics", description="for the BI team").data
    assert created.name == "analytics" and created.collection_count == 0 and created.created_by == "alice@acme.test"
    assert rs.Workspaces.get(workspace="analytics").data.description == "for the BI team"
    with pytest.raises(BadRequestException) as conflict:
        rs.Workspaces.create(name="analytics")
    assert conflict.value.status == 409 and error_of(conflict)["type"] == "ALREADYEXISTS"
    with pytest.raises(BadRequestException) as bad_name:
        rs.Workspaces.create(name="no spaces")
    assert error_of(bad_name)["type"] == "INVALIDINPUT" and "`name`" in error_of(bad_name)["message"]
    assert rs.Workspaces.delete(workspace="analytics").data.name == "analytics"
    with pytest.raises(NotFoundException) as gone:
        rs.Workspaces.get(workspace="analytics")
    assert error_of(gone)["type"] == "NOTFOUND"
    with pytest.raises(BadRequestException):
        rs.Workspaces.delete(workspace="commons")


def test_it_creates_both_kinds_of_integration_validated_and_never_returns_the_secret(rs, aws, people, live_server):
    role = role_integration(rs, bucket="millrace-exports")
    assert role.dynamodb.aws_role.aws_role_arn == ROLE_ARN
    assert role.dynamodb.aws_role.aws_external_id == people.acme.external_id
    assert role.dynamodb.s3_export_bucket_name == "millrace-exports" and role.created_by == "alice@acme.test"
    keys = rs.Integrations.create_dynamodb_integration(
        name="keys",
        description="a user's keys",
        dynamodb=DynamodbIntegration(
            aws_access_key=AwsAccessKey(aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY)
        ),
    ).data
    assert keys.dynamodb.aws_access_key.aws_access_key_id == ACCESS_KEY_ID
    assert keys.dynamodb.aws_access_key.aws_secret_access_key == ""
    assert {i.name for i in rs.Integrations.list().data} == {"prod", "keys"}
    assert rs.Integrations.get(integration="keys").data.description == "a user's keys"
    stored = Integration.objects.get(name="keys")
    assert stored.is_validated and stored.secret_access_key == SECRET_ACCESS_KEY
    raw = rs.Integrations.list(_preload_content=False).data.decode()
    assert SECRET_ACCESS_KEY not in raw and stored.secret_access_key_encrypted not in raw
    assert Integration.objects.get(name="prod").scope == Integration.Scope.ALL


def test_integration_requests_are_checked_like_the_wizard(rs, aws, people):
    cases = [
        ({"aws_role": AwsRole(aws_role_arn="arn:aws:iam::123:role/x")}, "dynamodb.aws_role.aws_role_arn"),
        ({"aws_role": AwsRole(aws_role_arn=ROLE_ARN, aws_external_id="guess")}, "dynamodb.aws_role.aws_external_id"),
        ({"aws_access_key": AwsAccessKey(aws_access_key_id="nope", aws_secret_access_key=SECRET_ACCESS_KEY)},
         "dynamodb.aws_access_key.aws_access_key_id"),
        ({"aws_access_key": AwsAccessKey(aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key="short")},
         "dynamodb.aws_access_key.aws_secret_access_key"),
        ({"aws_role": AwsRole(aws_role_arn=ROLE_ARN), "s3_export_bucket_name": "s3://millrace-exports"},
         "dynamodb.s3_export_bucket_name"),
        ({}, "dynamodb"),
    ]  # fmt: skip
    for dynamodb, field in cases:
        with pytest.raises(BadRequestException) as refused:
            rs.Integrations.create_dynamodb_integration(name="prod", dynamodb=DynamodbIntegration(**dynamodb))
        assert error_of(refused)["type"] == "INVALIDINPUT" and f"`{field}`" in error_of(refused)["message"], field
    with pytest.raises(BadRequestException) as bad_name:
        role_integration(rs, name="has space")
    assert "`name`" in error_of(bad_name)["message"]
    role_integration(rs)
    with pytest.raises(BadRequestException) as taken:
        role_integration(rs, name="PROD")
    assert taken.value.status == 409 and error_of(taken)["type"] == "ALREADYEXISTS"
    with pytest.raises(NotFoundException):
        rs.Integrations.get(integration="missing")


def test_an_integration_aws_refuses_is_not_saved_and_the_message_says_what_to_allow(rs, aws, faults):
    faults.access_denied("dynamodb", "ListTables", "dynamodb:ListTables")
    with pytest.raises(BadRequestException) as refused:
        role_integration(rs)
    message = error_of(refused)["message"]
    assert "dynamodb:ListTables" in message and "AccessDenied" in message
    assert not Integration.objects.exists()


def test_a_scan_collection_is_created_listed_suspended_resumed_and_deleted(rs, aws, queued_loads, live_server):
    role_integration(rs)
    created = rs.Collections.create_dynamodb_collection(
        name="orders",
        description="all orders",
        sources=[scan_source(settings=SourceDynamoDbSettings(dynamodb_stream_poll_frequency="PT0.5S"))],
    ).data
    assert created.status == "CREATED" and created.workspace == "commons" and created.stats.doc_count == 0
    source = created.sources[0]
    assert source.integration_name == "prod" and source.dynamodb.table_name == "orders"
    assert source.dynamodb.use_scan_api is True and source.dynamodb.rcu == 5
    assert source.dynamodb.settings.dynamodb_stream_poll_frequency == "PT0.5S"
    assert source.dynamodb.current_status["state"] == "INITIALIZING"
    stored = Source.objects.get()
    assert queued_loads == [stored.pk] and stored.poll_frequency_ms == 500 and source.id == str(stored.public_id)

    assert [c.name for c in rs.Collections.list().data] == ["orders"]
    assert [c.name for c in rs.Collections.workspace_collections(workspace="commons").data] == ["orders"]
    assert rs.Workspaces.get(workspace="commons").data.collection_count == 1
    assert [s.id for s in rs.Sources.list(collection="orders").data] == [source.id]
    assert rs.Sources.get(collection="orders", source=source.id).data.dynamodb.table_name == "orders"
    assert [c.name for c in rs.Integrations.get(integration="prod").data.collections] == ["orders"]

    suspended = rs.Sources.suspend(collection="orders", source=source.id).data
    assert suspended.status["state"] == "SUSPENDED" and suspended.suspended_at
    assert rs.Collections.get(collection="orders").data.status == "PAUSED"
    resumed = rs.Sources.resume(collection="orders", source=source.id).data
    assert resumed.status["state"] == "INITIALIZING" and resumed.suspended_at is None
    assert rs.Collections.get(collection="orders").data.status == "CREATED"

    with pytest.raises(BadRequestException) as in_use:
        rs.Integrations.delete(integration="prod")
    assert error_of(in_use)["type"] == "DEPENDENTRESOURCES" and "commons.orders" in error_of(in_use)["message"]

    assert rs.Collections.delete(collection="orders").data.status == "DELETED"
    stored.refresh_from_db()
    assert stored.suspended_at is not None  # the engine skips it from now on
    with pytest.raises(NotFoundException):
        rs.Collections.get(collection="orders")
    assert rs.Collections.list().data == []
    again = rs.Collections.create_dynamodb_collection(name="orders", sources=[scan_source()]).data
    assert again.status == "CREATED" and Collection.objects.count() == 1  # the deleted one was purged
    rs.Collections.delete(collection="orders")
    assert rs.Integrations.delete(integration="prod").data.name == "prod"
    assert not Integration.objects.exists() and not Collection.objects.exists()


def test_collections_in_other_workspaces_and_defaults_follow_rockset(rs, aws, queued_loads):
    role_integration(rs)
    rs.Workspaces.create(name="analytics")
    created = rs.Collections.create_dynamodb_collection(
        workspace="analytics",
        name="orders",
        sources=[DynamodbSourceWrapper(integration_name="prod", table_name="orders", aws_region="us-east-1")],
    ).data
    # No bucket, so the wizard's recommendation is a Table Scan, at its default budget.
    assert created.workspace == "analytics" and created.sources[0].dynamodb.use_scan_api is True
    assert (
        created.sources[0].dynamodb.rcu == 1000
        and created.sources[0].dynamodb.settings.dynamodb_stream_poll_frequency == "PT1S"
    )
    assert [c.name for c in rs.Collections.workspace_collections(workspace="analytics").data] == ["orders"]
    assert rs.Collections.workspace_collections(workspace="commons").data == []
    with pytest.raises(BadRequestException) as not_empty:
        rs.Workspaces.delete(workspace="analytics")
    assert error_of(not_empty)["type"] == "DEPENDENTRESOURCES"
    with pytest.raises(NotFoundException):
        rs.Collections.create_dynamodb_collection(workspace="nowhere", name="x", sources=[scan_source()])


def test_collection_requests_are_checked_like_the_wizard(rs, aws, queued_loads, people):
    role_integration(rs)
    rs.Collections.create_dynamodb_collection(name="orders", sources=[scan_source()])
    cases = [
        ("orders", [scan_source()], "ALREADYEXISTS", "orders"),
        ("has space", [scan_source()], "INVALIDINPUT", "`name`"),
        ("c", [scan_source(table="missing")], "INVALIDINPUT", "`sources[0].dynamodb.table_name`"),
        ("c", [scan_source(table="customers")], "INVALIDINPUT", "NEW_AND_OLD_IMAGES"),
        ("c", [scan_source(rcu=50_000)], "INVALIDINPUT", "`sources[0].dynamodb.rcu`"),
        ("c", [scan_source(use_scan_api=False)], "INVALIDINPUT", "`sources[0].dynamodb.use_scan_api`"),
        ("c", [scan_source(aws_region="mars-1")], "INVALIDINPUT", "`sources[0].dynamodb.aws_region`"),
        ("c", [scan_source(integration="nope")], "INVALIDINPUT", "`sources[0].integration_name`"),
        ("c", [scan_source(settings=SourceDynamoDbSettings(dynamodb_stream_poll_frequency="PT10M"))],
         "INVALIDINPUT", "`sources[0].dynamodb.settings.dynamodb_stream_poll_frequency`"),
        ("c", [scan_source(settings=SourceDynamoDbSettings(dynamodb_stream_poll_frequency="often"))],
         "INVALIDINPUT", "ISO-8601"),
        ("c", [scan_source(), scan_source()], "INVALIDINPUT", "`sources`"),
        ("c", [], "INVALIDINPUT", "`sources`"),
    ]  # fmt: skip
    for name, sources, error_type, words in cases:
        with pytest.raises(BadRequestException) as refused:
            rs.Collections.create_dynamodb_collection(name=name, sources=sources)
        assert error_of(refused)["type"] == error_type and words in error_of(refused)["message"], (name, words)
    assert Collection.objects.count() == 1 and len(queued_loads) == 1


def test_an_export_collection_is_created_and_starts_its_export(rs, aws, queued_loads):
    """The load itself, to PROCESSING_STREAM, is driven by a real worker in tests/e2e/test_api_live.py."""
    undo = moto_exports.install(items_per_file=7)
    try:
        aws.dynamodb.update_continuous_backups(
            TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
        role_integration(rs, bucket="millrace-exports")
        source = DynamodbSourceWrapper(
            integration_name="prod", table_name="orders", aws_region="us-east-1", use_scan_api=False
        )
        created = rs.Collections.create_dynamodb_collection(name="orders", sources=[source]).data
        assert created.sources[0].dynamodb.use_scan_api is False and created.sources[0].dynamodb.get("rcu") is None
        initial_load.start(queued_loads[0])  # what the worker does first
        source = rs.Collections.get(collection="orders").data.sources[0]
        # moto finishes an export at once, so the download may already have begun.
        assert source.dynamodb.current_status["state"] in {"EXPORTING_TO_S3", "DOWNLOADING_FROM_S3"}
        assert source.status["state"] == "PROCESSING" and source.status.get("message") is None
    finally:
        undo()


def test_api_keys_are_listed_created_and_revoked(rs, live_server, people):
    assert [k.name for k in rs.APIKeys.list(user="self").data] == ["scripts"]
    assert rs.APIKeys.list(user="self").data[0].key.startswith("mr_…")
    created = rs.APIKeys.create(name="terraform").data
    assert created.key.startswith("mr_") and len(created.key) > 40 and created.state == "ACTIVE"
    terraform = rockset_client(live_server.url, created.key)
    assert terraform.Organizations.get().data.display_name == "Acme"
    assert terraform.APIKeys.get(user="alice@acme.test", name="terraform").data.name == "terraform"
    with pytest.raises(BadRequestException) as taken:
        rs.APIKeys.create(name="terraform")
    assert error_of(taken)["type"] == "ALREADYEXISTS"
    with pytest.raises(BadRequestException) as bad:
        rs.APIKeys.create(name="with space")
    assert "`name`" in error_of(bad)["message"]
    assert rs.APIKeys.delete(user="self", name="terraform").data.name == "terraform"
    with pytest.raises(UnauthorizedException) as revoked:
        terraform.Organizations.get()
    assert error_of(revoked)["type"] == "AUTHEXCEPTION"
    with pytest.raises(NotFoundException):
        rs.APIKeys.delete(user="self", name="terraform")
    with pytest.raises(NotFoundException):
        rs.APIKeys.delete(user="bob@acme.test", name="scripts")


def test_a_bad_key_is_refused_with_rockset_s_error(live_server, people):
    with pytest.raises(UnauthorizedException) as refused:
        rockset_client(live_server.url, "mr_not-a-key").Collections.list()
    assert refused.value.status == 401 and error_of(refused)["type"] == "AUTHEXCEPTION"


def test_it_keeps_every_organisation_to_itself(rs, carol_rs, aws, queued_loads, people):
    role_integration(rs)
    rs.Workspaces.create(name="analytics")
    source_id = rs.Collections.create_dynamodb_collection(name="orders", sources=[scan_source()]).data.sources[0].id
    assert carol_rs.Organizations.get().data.display_name == "Globex"
    assert carol_rs.Collections.list().data == [] and carol_rs.Integrations.list().data == []
    assert [w.name for w in carol_rs.Workspaces.list().data] == ["commons"]
    for call in (
        lambda: carol_rs.Collections.get(collection="orders"),
        lambda: carol_rs.Collections.delete(collection="orders"),
        lambda: carol_rs.Sources.list(collection="orders"),
        lambda: carol_rs.Sources.suspend(collection="orders", source=source_id),
        lambda: carol_rs.Integrations.get(integration="prod"),
        lambda: carol_rs.Integrations.delete(integration="prod"),
        lambda: carol_rs.Workspaces.get(workspace="analytics"),
        lambda: carol_rs.APIKeys.delete(user="alice@acme.test", name="scripts"),
    ):
        with pytest.raises(NotFoundException):
            call()
    with pytest.raises(BadRequestException) as not_hers:
        carol_rs.Collections.create_dynamodb_collection(name="orders", sources=[scan_source()])
    assert "`sources[0].integration_name`" in error_of(not_hers)["message"]
    role_integration(carol_rs)  # the same name is free in another organisation
    assert rs.Collections.get(collection="orders").data.sources[0].status["state"] == "INITIALIZING"
