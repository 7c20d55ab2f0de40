"""Security headers on every page: a Content-Security-Policy the pages satisfy, HSTS under HTTPS."""

from __future__ import annotations

import re

from django.urls import reverse

from tests.conftest import client_for


def directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


def test_pages_have_a_policy_with_no_inline_script_and_no_framing(people):
    response = client_for(people.alice).get(reverse("dashboard"))
    policy = directives(response)
    assert policy["script-src"] == "script-src 'self'"
    assert policy["style-src"] == "style-src 'self'"
    assert policy["frame-ancestors"] == "frame-ancestors 'none'" and policy["object-src"] == "object-src 'none'"
    assert policy["form-action"] == "form-action 'self'" and policy["connect-src"] == "connect-src 'self'"


def test_the_pages_carry_no_inline_script_or_style_element(people):
    """What the policy would block: an inline <script> or <style>, or an inline event handler."""
    client = client_for(people.alice)
    for name in ["dashboard", "collection_list", "integration_list", "api_keys", "api_docs", "organisation"]:
        page = client.get(reverse(name)).content.decode()
        scripts = re.findall(r"<script\b[^>]*>", page)
        assert scripts and all("src=" in tag for tag in scripts), (name, scripts)
        assert "<style" not in page and not re.search(r"\son[a-z]+=", page), name
        assert '"includeIndicatorStyles": false' in page  # htmx's own <style> would be blocked


def test_hsts_includes_subdomains_under_https(people, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = client_for(people.alice).get(reverse("dashboard"), secure=True)
    assert response["Strict-Transport-Security"] == "max-age=3600; includeSubDomains"
    assert "Strict-Transport-Security" not in client_for(people.alice).get(reverse("dashboard"))
