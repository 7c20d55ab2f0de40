"""Forgot password: a link by email, used once, then the new password logs in."""

from __future__ import annotations

import re

from django.core import mail
from django.test import Client
from django.urls import reverse


def test_a_forgotten_password_is_reset_through_the_emailed_link(people):
    client = Client()
    assert "Forgot your password?" in client.get(reverse("login")).content.decode()
    response = client.post(reverse("password_reset"), {"email": "bob@acme.test"}, follow=True)
    assert "Check your email" in response.content.decode()
    [email] = mail.outbox
    assert email.to == ["bob@acme.test"] and email.subject == "Reset your Millrace password"
    link = re.search(r"http://testserver(/password-reset/\S+)", email.body).group(1)
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    new = "a brand new passphrase 42"
    done = client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new}, follow=True)
    assert "Your password is changed" in done.content.decode()
    logged_in = Client().post(reverse("login"), {"username": "bob", "password": new})
    assert logged_in.status_code == 302 and logged_in["Location"] == "/"
    assert "This link no longer works" in client.get(link, follow=True).content.decode()


def test_an_unknown_address_gets_the_same_answer_and_no_email(people):
    response = Client().post(reverse("password_reset"), {"email": "nobody@acme.test"}, follow=True)
    assert "Check your email" in response.content.decode() and mail.outbox == []
