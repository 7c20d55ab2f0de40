"""A fresh install's set-up page asks for the one-time token the server prints, so the first visitor of a
public address can't make themselves the operator."""

from __future__ import annotations

import html
import io
import logging

from django.contrib.auth import get_user_model
from django.urls import reverse

from console.management.commands.serve import Command as Serve
from console.services import setup_token
from tests.conftest import PASSWORD

ACCOUNT = {"username": "ada", "email": "ada@example.test", "password1": PASSWORD, "password2": PASSWORD,
           "organisation_name": "Analytical Engines"}  # fmt: skip


def test_set_up_without_the_token_creates_nothing(db, client):
    for token in ["", "guess", setup_token()[:-1] + "x"]:
        response = client.post(reverse("first_run"), {**ACCOUNT, "setup_token": token})
        assert response.status_code == 200
        assert "setup_token" in response.context["form"].errors
    assert "not this install's setup token" in html.unescape(response.content.decode())
    assert not get_user_model().objects.exists()


def test_the_set_up_page_prints_the_token_in_the_servers_log(db, client, caplog):
    with caplog.at_level(logging.WARNING, logger="console.views"):
        page = client.get(reverse("first_run"))
    assert "setup token" in page.content.decode() and setup_token() not in page.content.decode()
    assert f"asks for this setup token: {setup_token()}" in caplog.text


def test_the_token_from_the_log_creates_the_operator(db, client):
    response = client.post(reverse("first_run"), {**ACCOUNT, "setup_token": f" {setup_token()} "}, follow=True)
    assert "Welcome to Millrace" in response.content.decode()
    assert get_user_model().objects.get().username == "ada"


def test_the_token_changes_with_the_secret_key(settings):
    first = setup_token()
    settings.SECRET_KEY = "another install's secret key, quite different from this one"
    assert setup_token() != first and len(first) == 24


def test_the_launchers_link_fills_the_token_in(db, client):
    out = io.StringIO()
    Serve(stdout=out).announce_setup("http://127.0.0.1:8000")
    link = f"http://127.0.0.1:8000/setup/?token={setup_token()}"
    assert link in out.getvalue() and f"setup token: {setup_token()}" in out.getvalue()
    page = client.get(link.removeprefix("http://127.0.0.1:8000")).content.decode()
    assert f'value="{setup_token()}"' in page


def test_the_launcher_says_nothing_once_an_account_exists(people):
    out = io.StringIO()
    Serve(stdout=out).announce_setup("http://127.0.0.1:8000")
    assert out.getvalue() == ""
