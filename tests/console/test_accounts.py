from __future__ import annotations

from django.contrib.auth import get_user_model
from django.urls import reverse

from console.models import ApiKey, Membership, Organisation, hash_api_key
from console.services import setup_token
from tests.conftest import PASSWORD, client_for


def test_a_fresh_install_sends_every_page_to_set_up(db, client):
    for path in ["/", reverse("integration_list"), reverse("login")]:
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"] == reverse("first_run")
    page = client.get(reverse("first_run")).content.decode()
    assert "no default password" in page.lower()


def test_set_up_creates_the_first_admin_and_organisation(db, client):
    response = client.post(
        reverse("first_run"),
        {"username": "ada", "email": "ada@example.test", "password1": PASSWORD, "password2": PASSWORD,
         "organisation_name": "Analytical Engines", "setup_token": setup_token()},
        follow=True,
    )  # fmt: skip
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert "Welcome to Millrace" in response.content.decode()
    user = get_user_model().objects.get()
    assert user.is_superuser and user.is_staff
    membership = Membership.objects.get(user=user)
    assert membership.role == "admin"
    assert membership.organisation.name == "Analytical Engines"
    assert len(membership.organisation.external_id) >= 32


def test_set_up_refuses_a_weak_password(db, client):
    response = client.post(
        reverse("first_run"),
        {"username": "ada", "email": "ada@example.test", "password1": "password", "password2": "password",
         "organisation_name": "X", "setup_token": setup_token()},
    )  # fmt: skip
    assert response.status_code == 200
    assert "too common" in response.content.decode()
    assert not get_user_model().objects.exists()


def test_set_up_is_gone_once_an_account_exists(people, client):
    assert client.get(reverse("first_run")).status_code == 404
    assert client.post(reverse("first_run"), {"username": "mallory"}).status_code == 404


def test_log_in_and_out(people, client):
    response = client.post(reverse("login"), {"username": "bob", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert "Acme" in response.content.decode()
    response = client.post(reverse("logout"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("login")
    assert client.get(reverse("dashboard")).status_code == 302


def test_external_ids_are_random_and_distinct(people):
    ids = {people.acme.external_id, people.globex.external_id, Organisation.objects.create(name="x").external_id}
    assert len(ids) == 3


def test_the_organisation_page_shows_members_and_external_id(people):
    page = client_for(people.bob).get(reverse("organisation")).content.decode()
    assert people.acme.external_id in page
    assert "alice" in page and "bob" in page and "carol" not in page


def test_an_api_key_is_shown_once_and_stored_hashed(people):
    client = client_for(people.alice)
    response = client.post(reverse("api_keys"), {"name": "terraform"})
    key = response.context["new_key"]
    assert key.startswith("mr_") and key in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    row = ApiKey.objects.get(name="terraform")
    assert row.key_hash == hash_api_key(key) and key not in row.key_hash
    assert row.organisation == people.acme
    later = client.get(reverse("api_keys")).content.decode()
    assert key not in later and f"…{key[-4:]}" in later


def test_an_api_key_name_must_be_unique_for_the_user(people):
    client = client_for(people.alice)
    client.post(reverse("api_keys"), {"name": "ci"})
    response = client.post(reverse("api_keys"), {"name": "ci"})
    assert "already have a key named" in response.content.decode()
    assert client_for(people.bob).post(reverse("api_keys"), {"name": "ci"}).context["new_key"]


def test_an_api_key_can_be_revoked_by_its_owner_or_an_admin_only(people):
    client_for(people.alice).post(reverse("api_keys"), {"name": "ci"})
    key = ApiKey.objects.get()
    assert client_for(people.carol).post(reverse("api_key_revoke", args=[key.pk])).status_code == 404
    refused = client_for(people.bob).post(reverse("api_key_revoke", args=[key.pk]))
    assert refused.status_code == 403
    assert "Only an admin" in refused.content.decode()
    response = client_for(people.alice).post(reverse("api_key_revoke", args=[key.pk]), follow=True)
    assert "Revoked API key" in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert not ApiKey.objects.active().exists()


def test_the_keys_page_lists_only_my_keys(people):
    client_for(people.alice).post(reverse("api_keys"), {"name": "alice-key"})
    client_for(people.carol).post(reverse("api_keys"), {"name": "carol-key"})
    page = client_for(people.alice).get(reverse("api_keys")).content.decode()
    assert "alice-key" in page and "carol-key" not in page


def test_the_dashboard_shows_the_worker_state(people):
    from django.utils import timezone

    from console.models import Heartbeat

    page = client_for(people.alice).get(reverse("dashboard")).content.decode()
    assert "not seen yet" in page
    Heartbeat.objects.create(name="worker", seen_at=timezone.now())
    assert "running" in client_for(people.alice).get(reverse("dashboard")).content.decode()
    Heartbeat.objects.update(seen_at=timezone.now() - timezone.timedelta(seconds=30))
    page = client_for(people.alice).get(reverse("dashboard")).content.decode()
    assert "answering slowly" in page and "running" not in page
    # Past the bound at which collections show as stalled, the overview says so too (not "running").
    Heartbeat.objects.update(seen_at=timezone.now() - timezone.timedelta(seconds=65))
    assert "not responding" in client_for(people.alice).get(reverse("dashboard")).content.decode()


def test_the_sandbox_banner_shows_only_on_the_sandbox(people, settings):
    client = client_for(people.alice)
    assert "local AWS sandbox" not in client.get(reverse("dashboard")).content.decode()
    settings.MILLRACE_AWS_ENDPOINT_URL = "http://127.0.0.1:5055"
    assert "local AWS sandbox" in client.get(reverse("dashboard")).content.decode()


def test_a_user_without_an_organisation_gets_a_clear_404(db, client):
    get_user_model().objects.create_user("loner", password=PASSWORD)
    client.force_login(get_user_model().objects.get(username="loner"))
    response = client.get(reverse("integration_list"))
    assert response.status_code == 404


def test_an_admin_sets_the_organisations_notification_addresses_a_member_only_sees_them(people):
    admin = client_for(people.alice)
    response = admin.post(reverse("organisation"), {"notification_emails": "ops@acme.test, not-an-address"})
    assert "“not-an-address” is not an email address." in response.content.decode()
    response = admin.post(
        reverse("organisation"), {"notification_emails": "ops@acme.test,\ndata@acme.test"}, follow=True
    )
    assert "Saved the notification addresses." in response.content.decode()
    assert Organisation.objects.get(pk=people.acme.pk).notification_addresses == ["ops@acme.test", "data@acme.test"]

    member = client_for(people.bob)
    member.post(reverse("organisation"), {"notification_emails": ""})
    page = member.get(reverse("organisation")).content.decode()
    assert "<code>ops@acme.test</code>" in page and "An admin of the organisation can change them." in page
    assert Organisation.objects.get(pk=people.acme.pk).notification_addresses == ["ops@acme.test", "data@acme.test"]


def test_a_revoke_page_opened_before_the_key_was_revoked_says_so(people):
    client = client_for(people.alice)
    client.post(reverse("api_keys"), {"name": "ci"})
    key = ApiKey.objects.get()
    asked = client.get(reverse("api_key_revoke", args=[key.pk]))  # the question, in one tab
    assert "Revoke your API key “ci”?" in asked.content.decode() and ApiKey.objects.get().is_active
    client.post(reverse("api_key_revoke", args=[key.pk]))  # answered in another
    again = client.get(reverse("api_key_revoke", args=[key.pk]), follow=True)
    assert "API key “ci” was already revoked." in again.content.decode()
