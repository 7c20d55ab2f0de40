"""The official Rockset client (2.1.2) pointed at a live test server, with a Millrace key."""

from __future__ import annotations

import pytest
from rockset import RocksetClient

from console.services import api_key_create


def rockset_client(url: str, key: str) -> RocksetClient:
    """The client refuses hosts outside *.rockset.com when it is built; its configuration can be repointed."""
    client = RocksetClient(host="https://api.use1a1.rockset.com", api_key=key)
    client.api_client.configuration.host = url
    return client


@pytest.fixture
def alice_key(people) -> str:
    return api_key_create(user=people.alice, organisation=people.acme, name="scripts")[1]


@pytest.fixture
def carol_key(people) -> str:
    return api_key_create(user=people.carol, organisation=people.globex, name="scripts")[1]


@pytest.fixture
def rs(live_server, alice_key) -> RocksetClient:
    return rockset_client(live_server.url, alice_key)


@pytest.fixture
def carol_rs(live_server, carol_key) -> RocksetClient:
    return rockset_client(live_server.url, carol_key)


@pytest.fixture
def queued_loads(monkeypatch) -> list[int]:
    """No worker in these tests: record the initial loads a created collection queues."""
    queued: list[int] = []
    monkeypatch.setattr("ingest.tasks.start_initial_load.delay", queued.append)
    return queued
