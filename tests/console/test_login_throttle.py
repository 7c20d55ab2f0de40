"""Failed logins are locked out per username and address (django-axes), with a page that says so."""

from __future__ import annotations

import html
from datetime import timedelta

from axes.models import AccessAttempt
from django.db.models import F
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD


def attempt(client: Client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_five_failures_lock_that_user_out_from_that_address_with_a_message(people, settings):
    settings.AXES_FAILURE_LIMIT = 5
    client = Client()
    for _ in range(4):
        response = attempt(client, "alice", "wrong password")
        assert response.status_code == 200 and "correct username and password" in response.content.decode()
    locked = attempt(client, "alice", "wrong password")
    assert locked.status_code == 429
    page = html.unescape(locked.content.decode())
    assert "Too many failed logins" in page and "After 5 failed attempts for “alice”" in page
    assert "locked for 15 minutes" in page
    # Even the right password is refused from there while the lockout lasts...
    assert attempt(client, "alice", PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session
    # ...but alice from another address, and bob from the same one, still log in.
    assert attempt(Client(), "alice", PASSWORD, address="198.51.100.2").status_code == 302
    assert attempt(Client(), "bob", PASSWORD).status_code == 302


def test_the_lockout_ends_after_the_cooloff(people, settings):
    settings.AXES_FAILURE_LIMIT = 2
    client = Client()
    attempt(client, "alice", "wrong")
    assert attempt(client, "alice", "wrong").status_code == 429
    # django-axes reads the real clock: age the failures as sixteen minutes would.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))
    assert attempt(client, "alice", PASSWORD).status_code == 302


def test_behind_a_proxy_the_address_is_the_one_the_proxy_added(people, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.MILLRACE_BEHIND_PROXY = True
    client = Client()
    for claimed in ("10.0.0.1", "10.0.0.2"):  # a client rotating what it claims is still one address
        response = client.post(reverse("login"), {"username": "alice", "password": "wrong"},
                               HTTP_X_FORWARDED_FOR=f"{claimed}, 203.0.113.9")  # fmt: skip
    assert response.status_code == 429
