from __future__ import annotations

from django.urls import reverse

from integrations.models import Integration
from tests.conftest import ROLE_ARN, client_for


def test_the_admin_lists_organisations_users_keys_and_integrations(people):
    Integration.objects.create(organisation=people.acme, name="acme-int", table_name="orders", role_arn=ROLE_ARN)
    client = client_for(people.alice)
    for model in ["console_organisation", "console_membership", "console_apikey", "integrations_integration",
                  "auth_user", "collections_app_collection", "collections_app_workspace"]:  # fmt: skip
        assert client.get(reverse(f"admin:{model}_changelist")).status_code == 200, model
    page = client.get(reverse("admin:integrations_integration_changelist") + "?q=acme").content.decode()
    assert "acme-int" in page and "Table orders in every region" in page


def test_api_keys_cannot_be_added_in_the_admin(people):
    assert client_for(people.alice).get(reverse("admin:console_apikey_add")).status_code == 403


def test_the_revalidate_action_checks_against_aws(people, aws):
    integration = Integration.objects.create(
        organisation=people.acme, name="acme-int", table_name="orders", role_arn=ROLE_ARN
    )
    response = client_for(people.alice).post(
        reverse("admin:integrations_integration_changelist"),
        {"action": "revalidate", "_selected_action": [integration.pk]},
        follow=True,
    )
    integration.refresh_from_db()
    assert integration.status == Integration.Status.VALIDATED
    assert "Acme-int: Validated" in response.content.decode()  # the admin capitalises messages


def test_members_cannot_open_the_admin(people):
    response = client_for(people.bob).get(reverse("admin:index"))
    assert response.status_code == 403
    assert "operators only" in response.content.decode()
