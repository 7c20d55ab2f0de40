"""Raw HTTP against a live server: what the official client can't send (malformed bodies, wrong types,
unknown enum values, oversized bodies) and what Django would otherwise answer in HTML (404, 405, 500)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import requests

from api.errors import MAX_BODY_BYTES
from tests.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def http(live_server, alice_key):
    session = requests.Session()
    session.headers["Authorization"] = f"ApiKey {alice_key}"

    def call(method: str, path: str, **kwargs) -> requests.Response:
        return session.request(method, f"{live_server.url}{path}", timeout=30, **kwargs)

    return call


def assert_rockset_error(response: requests.Response, status: int, type_: str, words: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["type"] == type_ and body["trace_id"] and body["error_id"]
    assert words in body["message"], body["message"]
    assert "Traceback" not in response.text and "<html" not in response.text.lower()


def test_requests_without_a_valid_api_key_get_401(live_server, alice_key):
    url = f"{live_server.url}/v1/orgs/self/collections"
    for headers in ({}, {"Authorization": f"Bearer {alice_key}"}, {"Authorization": "ApiKey "},
                    {"Authorization": "ApiKey mr_wrong"}):  # fmt: skip
        assert_rockset_error(requests.get(url, headers=headers, timeout=30), 401, "AUTHEXCEPTION", "Authentication")
    assert requests.get(url, headers={"Authorization": f"apikey {alice_key}"}, timeout=30).status_code == 200


def test_malformed_bodies_get_invalidinput_naming_the_field(http):
    path = "/v1/orgs/self/ws/commons/collections"
    assert_rockset_error(http("POST", path, data=b"{not json"), 400, "INVALIDINPUT", "not valid JSON")
    assert_rockset_error(http("POST", path, data=b"\xff\xfe"), 400, "INVALIDINPUT", "not valid JSON")
    assert_rockset_error(http("POST", path, json=[1, 2]), 400, "INVALIDINPUT", "JSON object")
    assert_rockset_error(http("POST", path, data=b""), 400, "INVALIDINPUT", "empty")
    source = {"integration_name": "prod", "dynamodb": {"table_name": "orders"}}
    cases = [
        ({"name": 5, "sources": [source]}, "`name` must be a string"),
        ({"name": "c"}, "Missing field `sources`"),
        ({"name": "c", "sources": {"a": 1}}, "`sources` must be an array"),
        ({"name": "c", "sources": ["orders"]}, "`sources[0]` must be an object"),
        ({"name": "c", "sources": [{**source, "dynamodb": {"table_name": "orders", "rcu": "10"}}]},
         "`sources[0].dynamodb.rcu` must be an integer"),
        ({"name": "c", "sources": [{**source, "dynamodb": {"table_name": "orders", "rcu": True}}]},
         "`sources[0].dynamodb.rcu` must be an integer"),
        ({"name": "c", "sources": [{**source, "dynamodb": {"table_name": "orders", "use_scan_api": "yes"}}]},
         "`sources[0].dynamodb.use_scan_api` must be true or false"),
        ({"name": "c", "sources": [{**source, "dynamodb": {"table_name": "orders", "settings": {"x": 1}}}]},
         "`sources[0].dynamodb.settings.x`"),
        ({"name": "c", "sources": [{"integration_name": "prod", "dynamodb": {}}]},
         "Missing field `sources[0].dynamodb.table_name`"),
        ({"name": "c", "sources": [{**source, "kafka": {"topic": "t"}}]}, "`sources[0].kafka`"),
        ({"name": "c", "sources": [source], "storage_compression_type": "GZIP"},
         "`storage_compression_type` must be one of LZ4, ZSTD"),
        ({"name": "c", "sources": [source], "retention_secs": 3600}, "`retention_secs` is not supported"),
        ({"name": "c", "sources": [source], "colour": "red"}, "Unknown field `colour`"),
        ({"name": "c", "description": "x" * 501, "sources": [source]}, "`description` is 501 characters"),
    ]  # fmt: skip
    for body, words in cases:
        assert_rockset_error(http("POST", path, json=body), 400, "INVALIDINPUT", words)
    integration_cases = [
        ({"name": "x", "dynamodb": "role"}, "`dynamodb` must be an object"),
        ({"name": "x", "dynamodb": {"aws_role": {"aws_role_arn": 7}}}, "`dynamodb.aws_role.aws_role_arn`"),
        ({"name": "x", "s3": {"aws_role": {}}}, "`s3`"),
        ({"name": "x" * 101, "dynamodb": {}}, "`name` is 101 characters"),
    ]
    for body, words in integration_cases:
        assert_rockset_error(http("POST", "/v1/orgs/self/integrations", json=body), 400, "INVALIDINPUT", words)
    assert_rockset_error(http("POST", "/v1/orgs/self/ws", json={"name": "a.b"}), 400, "INVALIDINPUT", "`name`")
    assert_rockset_error(http("POST", "/v1/orgs/self/users/self/apikeys", json={"name": "k", "role": "admin"}),
                         400, "INVALIDINPUT", "`role`")  # fmt: skip


def test_an_oversized_body_is_refused_before_it_is_read(http):
    body = b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}'
    assert_rockset_error(http("POST", "/v1/orgs/self/ws", data=body), 400, "INVALIDINPUT", "limit")


def test_unknown_paths_wrong_methods_and_crashes_answer_json(http, monkeypatch):
    assert_rockset_error(http("GET", "/v1/orgs/self/nothing-here"), 404, "NOTFOUND", "/v1/orgs/self/nothing-here")
    assert_rockset_error(http("GET", "/v1/orgs/self/ws/commons/"), 404, "NOTFOUND")
    assert_rockset_error(http("PUT", "/v1/orgs/self"), 405, "METHODNOTALLOWED", "GET")
    assert_rockset_error(http("DELETE", "/v1/orgs/self/collections"), 405, "METHODNOTALLOWED")

    def crash(*args: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("api.present.organisation", crash)
    response = http("GET", "/v1/orgs/self")
    assert_rockset_error(response, 500, "INTERNALERROR", "logged")
    assert "secret internals" not in response.text


def test_the_openapi_document_lists_every_served_path(http, live_server):
    from django.urls import get_resolver

    document = requests.get(f"{live_server.url}/v1/openapi.json", timeout=30).json()
    assert document["openapi"].startswith("3.") and document["servers"] == [{"url": live_server.url}]
    served = set()
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern) == "v1/":
            for inner in pattern.url_patterns:
                route = "/v1/" + re.sub(r"<str:(\w+)>", r"{\1}", str(inner.pattern))
                served.add(route.replace("/users/self/", "/users/{user}/") if "apikeys/" in route else route)
    documented = set(document["paths"]) | {"/v1/openapi.json", "/v1/orgs/self/users/{user}/apikeys"}
    missing = {p for p in served if p not in documented and "/users/self/" not in p}
    assert not missing


def test_the_console_api_page_shows_a_curl_example_that_works(people, live_server, alice_key):
    page = client_for(people.alice).get("/api/", HTTP_HOST=live_server.url.removeprefix("http://"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "/v1/openapi.json" in text and "POST" in text
    command = re.search(r'<pre id="curl-example">(.*?)</pre>', text).group(1).replace("&quot;", '"')
    assert command.startswith("curl ") and live_server.url in command
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    env = {**os.environ, "MILLRACE_API_KEY": alice_key}
    output = subprocess.run(command, shell=True, env=env, capture_output=True, text=True, timeout=30, check=True)
    assert output.stdout.startswith('{"data": [')
