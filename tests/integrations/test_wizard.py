from __future__ import annotations

import pytest
from django.urls import reverse

from collections_app.models import Collection, Source, Workspace
from integrations.models import Integration
from tests.conftest import ACCESS_KEY_ID, ROLE_ARN, SECRET_ACCESS_KEY, client_for
from tests.integrations.wizard import SCOPE, post_step, run_wizard, step_url

KEYS = {"auth_method": "keys", "role_arn": "", "access_key_id": ACCESS_KEY_ID, "secret_access_key": SECRET_ACCESS_KEY}


def test_it_creates_a_validated_role_integration(people, aws):
    client = client_for(people.alice)
    response = run_wizard(client)
    integration = Integration.objects.get(name="prod-orders")
    assert integration.organisation == people.acme
    assert integration.status == Integration.Status.VALIDATED
    assert integration.role_arn == ROLE_ARN
    assert {c["key"]: c["status"] for c in integration.validation_report} == {
        "credentials": "passed",
        "describe_table": "passed",
        "describe_stream": "passed",
    }
    assert response.redirect_chain[-1][0] == reverse("integration_detail", args=[integration.pk])
    assert "is saved and validated" in response.content.decode()


def test_it_creates_a_validated_access_key_integration_with_a_bucket(people, aws):
    client = client_for(people.alice)
    run_wizard(client, scope={"s3_bucket": "millrace-exports", "s3_prefix": "exports/"}, access=KEYS)
    integration = Integration.objects.get(name="prod-orders")
    assert integration.auth_method == "keys"
    assert integration.secret_access_key == SECRET_ACCESS_KEY
    assert integration.s3_prefix == "exports"
    statuses = {c["key"]: c["status"] for c in integration.validation_report}
    assert statuses["s3_list"] == statuses["s3_put"] == statuses["s3_get"] == "passed"
    assert integration.is_validated


def test_the_policy_step_shows_the_policy_for_the_scope(people, aws):
    client = client_for(people.alice)
    post_step(client, "scope", {**SCOPE, "scope": "prefix", "table_name": "prod", "region": "eu-west-1"})
    page = client.get(step_url("policy")).content.decode()
    assert "arn:aws:dynamodb:eu-west-1:*:table/prod*/stream/*" in page
    assert "dynamodb:ListTables" in page
    assert "dynamodb:UpdateTable" in page and "optional" in page


def test_the_access_step_shows_millraces_principal_and_the_external_id(people, aws):
    client = client_for(people.alice)
    post_step(client, "scope", SCOPE)
    post_step(client, "policy", {})
    page = client.get(step_url("access")).content.decode()
    assert "arn:aws:sts::123456789012:user/moto" in page
    assert people.acme.external_id in page
    assert len(people.acme.external_id) >= 32


def test_a_wrong_external_id_fails_validation_and_cannot_be_saved_as_validated(people, aws, faults):
    faults.access_denied("sts", "AssumeRole", "sts:AssumeRole")
    client = client_for(people.alice)
    post_step(client, "scope", SCOPE)
    post_step(client, "policy", {})
    post_step(client, "access", {"auth_method": "role", "role_arn": ROLE_ARN})
    page = client.get(step_url("validate")).content.decode()
    assert "not authorized to perform: sts:AssumeRole" in page
    assert "External ID" in page
    response = post_step(client, "validate", {})
    assert response.status_code == 200
    assert "essential checks have not passed" in response.content.decode()
    assert not Integration.objects.exists()


def test_a_missing_permission_says_which_and_what_to_change(people, aws, faults):
    faults.access_denied("dynamodb", "DescribeTable", "dynamodb:DescribeTable")
    response = run_wizard(client_for(people.alice), draft=True)
    integration = Integration.objects.get()
    check = next(c for c in integration.validation_report if c["key"] == "describe_table")
    assert check["status"] == "failed"
    assert "AccessDeniedException" in check["aws_error"]
    assert "Allow dynamodb:DescribeTable on arn:aws:dynamodb:us-east-1:*:table/orders" in check["advice"]
    assert integration.status == Integration.Status.DRAFT
    assert "unvalidated draft" in response.content.decode()


def test_a_table_that_does_not_exist_is_reported(people, aws):
    client = client_for(people.alice)
    post_step(client, "scope", {**SCOPE, "table_name": "no-such-table"})
    post_step(client, "policy", {})
    post_step(client, "access", {"auth_method": "role", "role_arn": ROLE_ARN})
    page = client.get(step_url("validate")).content.decode()
    assert "ResourceNotFoundException" in page
    assert "was not found" in page


def test_a_table_without_a_stream_passes_and_says_the_stream_comes_later(people, aws):
    run_wizard(client_for(people.alice), scope={"table_name": "customers"})
    report = {c["key"]: c for c in Integration.objects.get().validation_report}
    assert report["describe_stream"]["status"] == "skipped"
    assert "offers to turn it on" in report["describe_stream"]["detail"]


def test_a_prefix_scope_lists_the_matching_tables(people, aws):
    run_wizard(client_for(people.alice), scope={"scope": "prefix", "table_name": "ord"})
    report = {c["key"]: c for c in Integration.objects.get().validation_report}
    assert report["list_tables"]["status"] == "passed"
    assert "orders" in report["list_tables"]["detail"] and "customers" not in report["list_tables"]["detail"]


def test_a_missing_bucket_is_reported(people, aws):
    run_wizard(client_for(people.alice), scope={"s3_bucket": "no-such-bucket"}, draft=True)
    report = {c["key"]: c for c in Integration.objects.get().validation_report}
    assert report["s3_list"]["status"] == "failed"
    assert "NoSuchBucket" in report["s3_list"]["aws_error"]
    assert "Create the bucket" in report["s3_list"]["advice"]


@pytest.mark.parametrize(
    ("step", "data", "field", "message"),
    [
        ("scope", {**SCOPE, "name": "has spaces"}, "name", "no spaces"),
        ("scope", {**SCOPE, "table_name": "ab"}, "table_name", "3–255 characters"),
        ("scope", {**SCOPE, "region": "moon-1"}, "region", "not an AWS region"),
        ("scope", {**SCOPE, "s3_bucket": "Bad_Bucket"}, "s3_bucket", "lowercase"),
        ("scope", {**SCOPE, "s3_bucket": "192.168.1.1"}, "s3_bucket", "IP address"),
        ("access", {"auth_method": "role", "role_arn": "arn:aws:iam::12:role/x"}, "role_arn", "not a role ARN"),
        (
            "access",
            {"auth_method": "keys", "access_key_id": "nope", "secret_access_key": SECRET_ACCESS_KEY},
            "access_key_id",
            "starting with AKIA",
        ),
        (
            "access",
            {"auth_method": "keys", "access_key_id": ACCESS_KEY_ID, "secret_access_key": "short"},
            "secret_access_key",
            "40 characters",
        ),
    ],
)
def test_malformed_input_is_refused_before_any_aws_call(people, aws, faults, step, data, field, message):
    for service, operation in (("sts", "AssumeRole"), ("dynamodb", "DescribeTable"), ("dynamodb", "ListTables")):
        faults.add(service, operation, "ShouldNotBeCalled")
    client = client_for(people.alice)
    if step == "access":
        post_step(client, "scope", SCOPE)
        post_step(client, "policy", {})
    response = post_step(client, step, data)
    assert response.status_code == 200
    assert message in str(response.context["form"].errors[field])
    assert all(f.hits == 0 for f in faults.faults)


def test_a_duplicate_name_is_refused(people, aws):
    Integration.objects.create(organisation=people.acme, name="prod-orders", table_name="orders")
    response = post_step(client_for(people.alice), "scope", SCOPE)
    assert "already has an integration named" in str(response.context["form"].errors["name"])


def test_the_same_name_is_fine_in_another_organisation(people, aws):
    Integration.objects.create(organisation=people.globex, name="prod-orders", table_name="orders")
    assert post_step(client_for(people.alice), "scope", SCOPE).status_code == 302


def test_back_keeps_what_was_typed(people, aws):
    client = client_for(people.alice)
    post_step(client, "scope", {**SCOPE, "name": "kept-name"})
    post_step(client, "policy", {})
    post_step(client, "access", {"auth_method": "role", "role_arn": ROLE_ARN}, wizard_goto_step="policy")
    page = client.get(step_url("access")).content.decode()
    assert ROLE_ARN in page
    assert 'value="kept-name"' in client.get(step_url("scope")).content.decode()


def test_a_refreshed_step_keeps_the_wizard(people, aws):
    client = client_for(people.alice)
    post_step(client, "scope", SCOPE)
    assert client.get(step_url("policy")).status_code == 200
    assert "table/orders" in client.get(step_url("policy")).content.decode()


def test_a_failed_step_saves_nothing(people, aws):
    client = client_for(people.alice)
    post_step(client, "scope", SCOPE)
    post_step(client, "policy", {})
    post_step(client, "access", {"auth_method": "role", "role_arn": "bad"})
    assert not Integration.objects.exists()


def test_the_secret_never_appears_in_a_response_or_at_rest_in_plaintext(people, aws, admin_client):
    client = client_for(people.alice)
    bodies = []
    post_step(client, "scope", SCOPE)
    post_step(client, "policy", {})
    post_step(client, "access", KEYS)
    bodies.append(client.get(step_url("access")).content)
    bodies.append(client.get(step_url("validate")).content)
    bodies.append(run_wizard(client, access=KEYS).content)
    integration = Integration.objects.get()
    bodies.append(client.get(reverse("integration_detail", args=[integration.pk])).content)
    bodies.append(client.get(reverse("integration_edit_step", args=[integration.pk, "access"])).content)
    bodies.append(client.get(reverse("integration_policy_download", args=[integration.pk])).content)
    admin_client.force_login(people.alice)
    bodies.append(admin_client.get(reverse("admin:integrations_integration_change", args=[integration.pk])).content)
    bodies.append(admin_client.get(reverse("admin:integrations_integration_changelist")).content)
    assert all(SECRET_ACCESS_KEY.encode() not in body for body in bodies)

    from django.contrib.sessions.models import Session
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_access_key_encrypted FROM integrations_integration")
        (stored,) = cursor.fetchone()
    assert SECRET_ACCESS_KEY not in stored
    assert all(SECRET_ACCESS_KEY not in str(s.get_decoded()) for s in Session.objects.all())


def test_editing_revalidates_and_keeps_the_stored_secret(people, aws, faults):
    client = client_for(people.alice)
    run_wizard(client, access=KEYS)
    integration = Integration.objects.get()
    faults.access_denied("dynamodb", "DescribeTable", "dynamodb:DescribeTable")
    edit_keys = {**KEYS, "secret_access_key": ""}
    run_wizard(client, scope={"description": "edited"}, access=edit_keys, pk=integration.pk, draft=True)
    integration.refresh_from_db()
    assert integration.description == "edited"
    assert integration.secret_access_key == SECRET_ACCESS_KEY
    assert integration.status == Integration.Status.DRAFT
    assert Integration.objects.count() == 1


def test_revalidate_button_updates_the_checklist(people, aws, faults):
    client = client_for(people.alice)
    run_wizard(client)
    integration = Integration.objects.get()
    faults.access_denied("dynamodb", "DescribeTable", "dynamodb:DescribeTable")
    response = client.post(reverse("integration_revalidate", args=[integration.pk]), follow=True)
    integration.refresh_from_db()
    assert integration.status == Integration.Status.DRAFT
    assert "failed an essential check" in response.content.decode()


def test_delete_is_refused_while_a_collection_uses_it(people, aws):
    integration = Integration.objects.create(organisation=people.acme, name="used", table_name="orders")
    workspace = Workspace.objects.create(organisation=people.acme, name="commons")
    collection = Collection.objects.create(workspace=workspace, name="orders")
    Source.objects.create(
        collection=collection,
        integration=integration,
        table_name="orders",
        region="us-east-1",
        load_method="scan",
        rcu=10,
    )
    client = client_for(people.alice)
    page = client.get(reverse("integration_delete", args=[integration.pk])).content.decode()
    assert "used by 1 collection. Delete it first" in page
    assert reverse("collection_delete", args=["commons", "orders"]) in page  # a way on, not a dead end
    response = client.post(reverse("integration_delete", args=[integration.pk]), follow=True)
    assert "used by 1 collection: commons.orders. Delete it first." in response.content.decode()
    assert Integration.objects.filter(pk=integration.pk).exists()


def test_delete_removes_an_unused_integration(people, aws):
    integration = Integration.objects.create(organisation=people.acme, name="unused", table_name="orders")
    client_for(people.alice).post(reverse("integration_delete", args=[integration.pk]))
    assert not Integration.objects.filter(pk=integration.pk).exists()


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("integration_detail", "get"),
        ("integration_edit", "get"),
        ("integration_delete", "get"),
        ("integration_delete", "post"),
        ("integration_revalidate", "post"),
        ("integration_policy_download", "get"),
    ],
)
def test_it_rejects_another_organisations_integration(people, aws, name, method):
    integration = Integration.objects.create(organisation=people.acme, name="acme-only", table_name="orders")
    response = getattr(client_for(people.carol), method)(reverse(name, args=[integration.pk]))
    assert response.status_code == 404
    assert Integration.objects.filter(pk=integration.pk).exists()


def test_the_list_shows_only_the_organisations_integrations(people, aws):
    Integration.objects.create(organisation=people.acme, name="acme-one", table_name="orders")
    Integration.objects.create(organisation=people.globex, name="globex-one", table_name="orders")
    page = client_for(people.bob).get(reverse("integration_list")).content.decode()
    assert "acme-one" in page and "globex-one" not in page


def test_pages_need_a_login(people, client):
    response = client.get(reverse("integration_list"))
    assert response.status_code == 302 and reverse("login") in response["Location"]
    response = client.get(step_url("scope"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_bucket_names_with_a_scheme_get_a_hint(people, aws):
    response = post_step(
        client_for(people.alice), "scope", {**SCOPE, "s3_bucket": "s3://millrace-exports", "s3_prefix": "/x/"}
    )
    errors = response.context["form"].errors
    assert "without s3://" in " ".join(errors["s3_bucket"]) and "s3_prefix" not in errors


def test_names_differing_only_in_case_are_duplicates(people, aws):
    Integration.objects.create(organisation=people.acme, name="prod-orders", table_name="orders")
    response = post_step(client_for(people.alice), "scope", {**SCOPE, "name": "PROD-ORDERS"})
    assert "already has an integration named" in " ".join(response.context["form"].errors["name"])


def test_conditional_fields_are_not_labelled_optional(people, aws):
    client = client_for(people.alice)
    post_step(client, "scope", SCOPE)
    post_step(client, "policy", {})
    page = client.get(step_url("access")).content.decode()
    assert "(optional)" not in page
