"""Small things a new user tripped over: what the pages say and offer."""

from __future__ import annotations

from django.urls import reverse

from console.models import Membership
from tests.conftest import client_for


def test_the_sole_admin_is_not_offered_a_remove_button_for_themself(people):
    page = client_for(people.alice).get(reverse("organisation")).content.decode()
    assert "only admin" in page
    assert reverse("organisation_member_remove", args=[Membership.objects.get(user=people.alice).pk]) not in page
    assert reverse("organisation_member_remove", args=[Membership.objects.get(user=people.bob).pk]) in page


def test_the_api_page_shows_code_not_backticks(people):
    page = client_for(people.alice).get(reverse("api_docs")).content.decode()
    endpoints = page.split("<h2>Endpoints</h2>")[1].split("</table>")[0]
    assert "`" not in endpoints and "<code>line</code> and <code>column</code>" in endpoints


def test_the_favicon_is_the_consoles_logo(client, people):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("img/millrace.svg")


def test_help_serves_the_readmes_sections_as_pages(people):
    client = client_for(people.bob)
    index = client.get(reverse("help")).content.decode()
    assert reverse("help_section", args=["configuration"]) in index and "Coming from Rockset" in index
    page = client.get(reverse("help_section", args=["coming-from-rockset"])).content.decode()
    assert "<h1>Coming from Rockset</h1>" in page and "<code>rockset</code>" in page and "<pre><code" in page
    assert client.get(reverse("help_section", args=["nope"])).status_code == 404


def test_the_set_up_page_shows_no_backticks(db, client):
    page = client.get(reverse("first_run")).content.decode()
    wrong = client.post(reverse("first_run"), {"setup_token": "nope"}).content.decode()
    assert "make run" in page and "`" not in page
    assert "setup token. Copy it" in wrong and "`" not in wrong
