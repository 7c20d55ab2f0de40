"""The organisation page: invitations by email, roles, removing members; and what each role sees."""

from __future__ import annotations

import importlib
import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from collections_app.models import Collection, Source, Workspace
from console.models import ApiKey, Invitation, Membership, Organisation
from console.services import api_key_create, organisation_admin_create
from integrations.models import Integration
from tests.conftest import PASSWORD, ROLE_ARN, client_for

User = get_user_model()


def invite(client: Client, email: str, role: str = "member") -> str:
    """Send an invitation through the page and return the link from the email."""
    mail.outbox.clear()
    response = client.post(reverse("organisation_invite"), {"email": email, "role": role}, follow=True)
    assert f"Invited {email}" in response.content.decode()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [email]
    return re.search(r"https?://\S+/invitations/\S+/", mail.outbox[0].body).group(0)


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def test_an_admin_invites_by_email_and_sees_the_invitation_pending(people):
    client = client_for(people.alice)
    link = invite(client, "dana@acme.test", "read_only")
    assert "alice invited you to join Acme on Millrace as read-only" in mail.outbox[0].body
    assert "7 days" in mail.outbox[0].body
    page = client.get(reverse("organisation")).content.decode()
    assert "dana@acme.test" in page and "Withdraw" in page
    assert Invitation.objects.get().token_hash not in link  # only the hash is stored


def test_accepting_creates_the_account_with_the_invited_role(people):
    link = invite(client_for(people.alice), "dana@acme.test", "read_only")
    visitor = Client()
    page = visitor.get(path_of(link)).content.decode()
    assert "Join Acme" in page and "dana@acme.test" in page and "read-only" in page
    response = visitor.post(
        path_of(link), {"username": "dana", "password1": PASSWORD, "password2": PASSWORD}, follow=True
    )
    assert "Welcome to Acme" in response.content.decode()
    dana = User.objects.get(username="dana")
    assert dana.email == "dana@acme.test" and not dana.is_superuser and not dana.is_staff
    assert Membership.objects.get(user=dana).role == "read_only"
    assert Client().get(path_of(link)).status_code == 404  # used once


def test_a_signed_in_person_joins_a_second_organisation_and_can_switch(people):
    link = invite(client_for(people.alice), "carol@globex.test", "member")
    carol = client_for(people.carol)
    assert "signed in as <strong>carol</strong>" in carol.get(path_of(link)).content.decode()
    carol.post(path_of(link))
    assert set(Membership.objects.filter(user=people.carol).values_list("organisation__name", flat=True)) == {
        "Acme",
        "Globex",
    }
    page = carol.get(reverse("dashboard")).content.decode()
    assert "carol · Acme" in page and 'id="organisation-switch"' in page
    carol.post(reverse("organisation_switch"), {"organisation": people.globex.pk})
    assert "carol · Globex" in carol.get(reverse("dashboard")).content.decode()


def test_a_forwarded_link_doesnt_let_another_account_in(people):
    link = invite(client_for(people.alice), "dana@acme.test")
    carol = client_for(people.carol)
    assert "this invitation is for dana@acme.test" in carol.get(path_of(link)).content.decode()
    carol.post(path_of(link))
    assert not Membership.objects.filter(user=people.carol, organisation=people.acme).exists()
    assert Invitation.objects.get().is_pending


def test_someone_with_an_account_is_asked_to_log_in_first(people):
    link = invite(client_for(people.alice), "carol@globex.test")
    page = Client().get(path_of(link)).content.decode()
    assert "already an account for carol@globex.test" in page and "Log in" in page
    assert not Membership.objects.filter(user=people.carol, organisation=people.acme).exists()


def test_an_expired_or_withdrawn_invitation_is_refused(people):
    client = client_for(people.alice)
    link = invite(client, "dana@acme.test")
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client().get(path_of(link))
    assert response.status_code == 404 and "has expired" in response.content.decode()
    link = invite(client, "erin@acme.test")
    invitation = Invitation.objects.get(email="erin@acme.test")
    client.post(reverse("organisation_invitation_cancel", args=[invitation.pk]))
    assert Client().get(path_of(link)).status_code == 404


def test_members_and_pending_invitations_cant_be_invited_twice(people):
    client = client_for(people.alice)
    page = client.post(reverse("organisation_invite"), {"email": "bob@acme.test", "role": "member"}).content.decode()
    assert "already a member of Acme" in page
    invite(client, "dana@acme.test")
    page = client.post(reverse("organisation_invite"), {"email": "DANA@acme.test", "role": "admin"}).content.decode()
    assert "already has a pending invitation" in page


def test_only_admins_see_and_use_the_member_controls(people):
    bob = client_for(people.bob)
    page = bob.get(reverse("organisation")).content.decode()
    assert "Invite someone" not in page and "Remove" not in page
    response = bob.post(reverse("organisation_invite"), {"email": "x@acme.test", "role": "admin"})
    assert response.status_code == 403 and "it takes an admin of Acme" in response.content.decode()
    assert not mail.outbox


def test_an_admin_changes_a_role_and_it_takes_effect_at_once(people):
    bob_membership = Membership.objects.get(user=people.bob)
    response = client_for(people.alice).post(
        reverse("organisation_member_role", args=[bob_membership.pk]), {"role": "read_only"}, follow=True
    )
    assert "bob is now read-only" in response.content.decode()
    bob = client_for(people.bob)
    page = bob.get(reverse("integration_list")).content.decode()
    assert "Create integration" not in page and "(read-only)" in page
    refused = bob.get(reverse("integration_create"))
    assert refused.status_code == 403 and "the role there is read-only" in refused.content.decode()


def test_the_last_admin_cant_be_demoted_or_removed(people):
    alice_membership = Membership.objects.get(user=people.alice)
    client = client_for(people.alice)
    response = client.post(
        reverse("organisation_member_role", args=[alice_membership.pk]), {"role": "member"}, follow=True
    )
    assert "alice is the last admin" in response.content.decode()
    response = client.post(reverse("organisation_member_remove", args=[alice_membership.pk]), follow=True)
    assert "alice is the last admin" in response.content.decode()
    assert Membership.objects.get(pk=alice_membership.pk).role == "admin"
    Membership.objects.filter(user=people.bob).update(role="admin")
    client.post(reverse("organisation_member_role", args=[alice_membership.pk]), {"role": "member"})
    assert Membership.objects.get(pk=alice_membership.pk).role == "member"


def test_a_removed_member_loses_access_and_their_keys(people):
    _, key = api_key_create(user=people.bob, organisation=people.acme, name="scripts")
    bob_membership = Membership.objects.get(user=people.bob)
    remove = reverse("organisation_member_remove", args=[bob_membership.pk])
    response = client_for(people.alice).post(remove, follow=True)
    assert "Removed bob from Acme; their API keys here are revoked" in response.content.decode()
    assert client_for(people.bob).get(reverse("collection_list")).status_code == 404
    assert not ApiKey.objects.active().filter(user=people.bob).exists()
    assert Client().get("/v1/orgs/self", HTTP_AUTHORIZATION=f"ApiKey {key}").status_code == 401


def test_a_read_only_key_reads_but_its_writes_get_rocksets_403(people):
    Membership.objects.filter(user=people.bob).update(role="read_only")
    _, key = api_key_create(user=people.bob, organisation=people.acme, name="scripts")
    client = Client(HTTP_AUTHORIZATION=f"ApiKey {key}")
    assert client.get("/v1/orgs/self/ws").status_code == 200
    response = client.post("/v1/orgs/self/ws", {"name": "new"}, content_type="application/json")
    assert response.status_code == 403
    body = response.json()
    assert body["type"] == "FORBIDDEN" and "read-only" in body["message"] and body["error_id"]
    assert not Workspace.objects.filter(name="new").exists()


def test_an_admin_revokes_another_members_key_from_the_keys_page(people):
    row, _ = api_key_create(user=people.bob, organisation=people.acme, name="leaked")
    page = client_for(people.alice).get(reverse("api_keys")).content.decode()
    assert "Other members' keys" in page and "leaked" in page
    assert "leaked" not in client_for(people.carol).get(reverse("api_keys")).content.decode()
    client_for(people.alice).post(reverse("api_key_revoke", args=[row.pk]))
    row.refresh_from_db()
    assert row.revoked_at is not None


def test_deleted_collections_are_neither_counted_nor_listed(people):
    integration = Integration.objects.create(organisation=people.acme, name="prod", scope="all", role_arn=ROLE_ARN)
    workspace = Workspace.objects.create(organisation=people.acme, name="commons")
    for name, status in (("live", Collection.Status.READY), ("gone", Collection.Status.DELETED)):
        collection = Collection.objects.create(workspace=workspace, name=name, status=status)
        Source.objects.create(collection=collection, integration=integration, table_name=name, region="us-east-1",
                              load_method=Source.LoadMethod.SCAN, rcu=5)  # fmt: skip
    client = client_for(people.bob)
    dashboard = client.get(reverse("dashboard"))
    assert dashboard.context["collection_count"] == 1
    listing = client.get(reverse("collection_list")).content.decode()
    assert "live" in listing and "gone" not in listing
    assert client.get(reverse("collection_detail", args=["commons", "gone"])).status_code == 404


def test_only_operators_open_the_admin_site(people):
    other_admin = organisation_admin_create(
        username="gina", email="gina@globex.test", password=PASSWORD, organisation_name="Initech"
    )
    page = client_for(other_admin).get(reverse("dashboard")).content.decode()
    assert ">Admin</a>" not in page
    response = client_for(other_admin).get(reverse("admin:console_apikey_changelist"))
    assert response.status_code == 403 and "operators only" in response.content.decode()
    assert client_for(people.alice).get(reverse("admin:console_apikey_changelist")).status_code == 200


def test_the_migration_keeps_the_first_operator_and_demotes_other_organisations_superusers(people):
    migration = importlib.import_module("console.migrations.0004_operators")
    second = User.objects.create_superuser("bootstrapped", "b@initech.test", PASSWORD)
    initech = Organisation.objects.create(name="Initech")
    Membership.objects.create(organisation=initech, user=second, role="admin")
    deliberate = User.objects.create_superuser("ops2", "ops2@example.test", PASSWORD)
    migration.demote_organisation_superusers(apps, None)
    second.refresh_from_db()
    assert not second.is_superuser and not second.is_staff
    assert Membership.objects.get(user=second).role == "admin"
    assert User.objects.get(username="alice").is_superuser  # the first account
    assert User.objects.get(pk=deliberate.pk).is_superuser  # no organisation: made an operator on purpose


@pytest.mark.parametrize("role", ["admin", "member", "read_only"])
def test_every_role_sees_the_organisations_collections_and_integrations(people, role):
    Membership.objects.filter(user=people.bob).update(role=role)
    Integration.objects.create(organisation=people.acme, name="acme-int", role_arn=ROLE_ARN)
    Integration.objects.create(organisation=people.globex, name="globex-int", role_arn=ROLE_ARN)
    page = client_for(people.bob).get(reverse("integration_list")).content.decode()
    assert "acme-int" in page and "globex-int" not in page
    assert ("Create integration" in page) == (role != "read_only")
