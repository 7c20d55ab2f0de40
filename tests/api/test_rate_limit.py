"""Past the per-key rate an operator sets, the API answers 429 in Rockset's error body."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client

from console.services import api_key_create


def get(key: str, path: str = "/v1/orgs/self"):
    return Client(HTTP_AUTHORIZATION=f"ApiKey {key}").get(path)


def test_a_key_past_its_rate_gets_429_in_rocksets_body_until_the_next_minute(
    settings, alice_key, carol_key, people, virtual_clock
):
    settings.MILLRACE_API_RATE_PER_MINUTE = 3
    virtual_clock.advance(60 - virtual_clock.now().timestamp() % 60)  # the start of a minute
    assert [get(alice_key).status_code for _ in range(3)] == [200, 200, 200]
    refused = get(alice_key, "/v1/orgs/self/collections")
    assert refused.status_code == 429 and refused["Retry-After"] == "60"
    body = refused.json()
    assert body["type"] == "RATELIMITEXCEEDED" and body["error_id"] and body["trace_id"]
    assert "3 requests a minute" in body["message"] and "MILLRACE_API_RATE_PER_MINUTE" in body["message"]
    # The limit is the key's: another key (of the same user, or of another organisation) is not slowed.
    assert get(carol_key).status_code == 200
    second = api_key_create(user=people.alice, organisation=people.acme, name="second")[1]
    assert get(second).status_code == 200
    virtual_clock.advance(timedelta(seconds=30).total_seconds())
    assert get(alice_key).status_code == 429 and get(alice_key)["Retry-After"] == "30"
    virtual_clock.advance(30)
    assert get(alice_key).status_code == 200


def test_a_rate_of_zero_means_no_limit(settings, alice_key):
    settings.MILLRACE_API_RATE_PER_MINUTE = 0
    assert {get(alice_key).status_code for _ in range(20)} == {200}


def test_an_unauthenticated_request_is_a_401_not_counted(settings, alice_key):
    settings.MILLRACE_API_RATE_PER_MINUTE = 1
    assert Client().get("/v1/orgs/self").status_code == 401
    assert get(alice_key).status_code == 200
