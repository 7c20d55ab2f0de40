"""Inputs an attacker (or a buggy script) sends that used to be a 500: each is now Rockset's 4xx body, and
nothing is half-saved."""

from __future__ import annotations

import json
import logging
import secrets
import threading

import pytest
import requests
from django.test import Client

from collections_app.models import Collection, Workspace
from console.models import ApiKey

COLLECTIONS = "/v1/orgs/self/ws/commons/collections"


@pytest.fixture
def api(alice_key):
    client = Client(HTTP_AUTHORIZATION=f"ApiKey {alice_key}")

    def call(method: str, path: str, body: object = None, raw: bytes | None = None, **extra: str):
        data = raw if raw is not None else (json.dumps(body) if body is not None else "")
        return getattr(client, method.lower())(path, data=data, content_type="application/json", **extra)

    return call


def rockset_error(response, status: int, type_: str, words: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["type"] == type_ and body["trace_id"] and body["error_id"], body
    assert words in body["message"], body["message"]
    return body


@pytest.mark.parametrize("depth", [50_000, 100_000])
def test_json_nested_tens_of_thousands_deep_is_invalid_input(api, depth):
    raw = ("[" * depth + "]" * depth).encode()
    body = {"name": "deep", "description": "x", "extra": None}
    nested = json.dumps(body).replace("null", "[" * depth + "]" * depth).encode()
    rockset_error(api("POST", "/v1/orgs/self/ws", raw=raw), 400, "INVALIDINPUT", "nested too deeply")
    rockset_error(api("POST", "/v1/orgs/self/ws", raw=nested), 400, "INVALIDINPUT", "nested too deeply")
    assert not Workspace.objects.exclude(name="commons").exists()


def test_a_poll_frequency_of_ten_billion_days_is_out_of_range(api):
    source = {
        "integration_name": "prod",
        "dynamodb": {"table_name": "orders", "settings": {"dynamodb_stream_poll_frequency": "P9999999999D"}},
    }
    response = api("POST", COLLECTIONS, {"name": "orders", "sources": [source]})
    rockset_error(response, 400, "INVALIDINPUT", "between PT0.25S and PT5M")
    assert not Collection.objects.exists()


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "\xb2", " 7"])
def test_a_content_length_that_is_not_a_number_is_a_400(api, people, length):
    response = api("POST", "/v1/orgs/self/ws", {"name": "x"}, CONTENT_LENGTH=length)
    rockset_error(response, 400, "INVALIDINPUT", "Content-Length")
    console = Client()
    console.force_login(people.alice)
    page = console.post("/api-keys/", data="name=k", content_type="application/x-www-form-urlencoded",
                        CONTENT_LENGTH=length)  # fmt: skip
    assert page.status_code == 400 and b"Content-Length" in page.content
    assert not ApiKey.objects.filter(name="k").exists() and not Workspace.objects.filter(name="x").exists()


def test_a_workspace_name_with_a_trailing_newline_is_refused(api):
    rockset_error(api("POST", "/v1/orgs/self/ws", {"name": "analytics\n"}), 400, "INVALIDINPUT", "`name`")
    assert not Workspace.objects.filter(name__startswith="analytics").exists()


@pytest.mark.parametrize("text", ["nul\x00here", "escape\x1b[2J", "bell\x07", "del\x7f"])
def test_nul_and_control_characters_in_a_description_are_refused(api, text):
    response = api("POST", "/v1/orgs/self/ws", {"name": "analytics", "description": text})
    rockset_error(response, 400, "INVALIDINPUT", "`description`: Remove the control characters")
    assert not Workspace.objects.filter(name="analytics").exists()


def test_a_multi_line_description_is_still_fine(api):
    response = api("POST", "/v1/orgs/self/ws", {"name": "analytics", "description": "line one\nline\ttwo"})
    assert response.status_code == 200
    assert Workspace.objects.get(name="analytics").description == "line one\nline\ttwo"


def test_every_api_500_logs_the_ids_the_client_received(api, monkeypatch, caplog):
    def crash(*args: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("api.present.organisation", crash)
    with caplog.at_level(logging.ERROR, logger="api.errors"):
        body = rockset_error(api("GET", "/v1/orgs/self"), 500, "INTERNALERROR", "logged")
    assert "secret internals" not in body["message"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"error_id={body['error_id']}" in logged and f"trace_id={body['trace_id']}" in logged
    assert body["error_id"] in body["message"]  # what a user quotes in a report is what the log names


@pytest.mark.django_db(transaction=True)
def test_six_concurrent_key_creates_with_one_name_make_one_key(live_server, alice_key, people, monkeypatch):
    # All six pass the name checks before any of them saves: the unique constraint has to decide.
    checked = threading.Barrier(6, timeout=30)
    token_urlsafe = secrets.token_urlsafe

    def after_the_checks(nbytes: int) -> str:
        checked.wait()
        return token_urlsafe(nbytes)

    monkeypatch.setattr("console.services.secrets.token_urlsafe", after_the_checks)
    answers: list[requests.Response] = []

    def create() -> None:
        answers.append(
            requests.post(
                f"{live_server.url}/v1/orgs/self/users/self/apikeys",
                json={"name": "race"},
                headers={"Authorization": f"ApiKey {alice_key}"},
                timeout=60,
            )
        )

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200, 409, 409, 409, 409, 409], [r.text for r in answers]
    assert all(r.json()["type"] == "ALREADYEXISTS" for r in answers if r.status_code == 409)
    assert ApiKey.objects.filter(name="race").count() == 1


def test_the_api_refuses_ciphertext_for_a_secret(api):
    from integrations import crypto
    from integrations.models import Integration
    from tests.conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY

    for secret in ["enc:garbage", "enc:" + crypto.encrypt(SECRET_ACCESS_KEY)]:
        keys = {"aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": secret}
        response = api("POST", "/v1/orgs/self/integrations", {"name": "prod", "dynamodb": {"aws_access_key": keys}})
        rockset_error(response, 400, "INVALIDINPUT", "not an encrypted form")
    assert not Integration.objects.exists()


def test_the_response_that_shows_a_new_key_is_not_stored_by_caches(api):
    response = api("POST", "/v1/orgs/self/users/self/apikeys", {"name": "ci"})
    assert response.status_code == 200 and response.json()["data"]["key"].startswith("mr_")
    assert response["Cache-Control"] == "no-store"
