from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from console.models import ApiKey, Membership, hash_api_key


def test_it_creates_admin_organisation_and_key_without_prompting(db, monkeypatch):
    monkeypatch.setenv("MILLRACE_ADMIN_PASSWORD", "a long and unusual passphrase")
    out = io.StringIO()
    call_command("bootstrap", "--username", "ops", "--email", "ops@example.test", "--organisation", "Ops",
                 stdout=out, stderr=io.StringIO())  # fmt: skip
    key = out.getvalue().strip()
    membership = Membership.objects.get(user__username="ops")
    assert membership.organisation.name == "Ops" and membership.role == "admin"
    assert membership.user.is_superuser  # the first account is the installation's operator
    assert ApiKey.objects.get().key_hash == hash_api_key(key)


def test_it_refuses_without_a_password(db, monkeypatch):
    monkeypatch.delenv("MILLRACE_ADMIN_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="--password"):
        call_command("bootstrap", "--username", "ops", "--email", "ops@example.test")


def test_it_refuses_a_weak_password_and_an_existing_user(people):
    with pytest.raises(CommandError, match="too common"):
        call_command("bootstrap", "--username", "ops", "--email", "o@x.test", "--password", "password")
    with pytest.raises(CommandError, match="already exists"):
        call_command("bootstrap", "--username", "alice", "--email", "o@x.test", "--password", "a long passphrase x")


def test_a_second_organisation_gets_an_admin_who_is_not_an_operator(people, monkeypatch):
    monkeypatch.setenv("MILLRACE_ADMIN_PASSWORD", "a long and unusual passphrase")
    err = io.StringIO()
    call_command("bootstrap", "--username", "gina", "--email", "gina@initech.test", "--organisation", "Initech",
                 stdout=io.StringIO(), stderr=err)  # fmt: skip
    membership = Membership.objects.get(user__username="gina")
    assert membership.organisation.name == "Initech" and membership.role == "admin"
    assert not membership.user.is_superuser and not membership.user.is_staff
    assert "admin (not an operator)" in err.getvalue()


@pytest.mark.parametrize("email", ["not-an-address", "ops@", "ops@example.test\nBcc: x@evil.test"])
def test_it_refuses_an_email_that_is_not_an_address(db, email):
    with pytest.raises(CommandError, match="is not an email address"):
        call_command("bootstrap", "--username", "ops", "--email", email, "--password", "a long passphrase x")
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.exists()
