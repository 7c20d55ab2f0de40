"""Bounds that keep the API cheap as an organisation grows, and keys that stop working when they should."""

from __future__ import annotations

from django.test import Client

from collections_app.models import Collection, Source, Workspace
from console.models import Membership
from console.services import api_key_create
from integrations.models import Integration
from tests.conftest import ROLE_ARN


def make_collections(people, count: int) -> None:
    integration = Integration.objects.create(organisation=people.acme, name="prod", scope="all", role_arn=ROLE_ARN,
                                             status=Integration.Status.VALIDATED)  # fmt: skip
    workspace = Workspace.objects.create(organisation=people.acme, name=Workspace.DEFAULT_NAME)
    for n in range(count):
        collection = Collection.objects.create(workspace=workspace, name=f"c{n}", created_by=people.alice)
        Source.objects.create(collection=collection, integration=integration, table_name=f"table{n}",
                              region="us-east-1", load_method=Source.LoadMethod.SCAN, rcu=5)  # fmt: skip


def test_listing_collections_and_integrations_takes_a_fixed_number_of_queries(people, django_assert_max_num_queries):
    make_collections(people, 6)
    _, key = api_key_create(user=people.alice, organisation=people.acme, name="scripts")
    client = Client(HTTP_AUTHORIZATION=f"ApiKey {key}")
    for path in ("/v1/orgs/self/collections", "/v1/orgs/self/integrations", "/v1/orgs/self/ws"):
        with django_assert_max_num_queries(9):
            response = client.get(path)
        assert response.status_code == 200, path
    assert len(client.get("/v1/orgs/self/collections").json()["data"]) == 6


def test_a_key_stops_working_when_its_user_leaves_the_organisation(people):
    _, key = api_key_create(user=people.bob, organisation=people.acme, name="scripts")
    client = Client(HTTP_AUTHORIZATION=f"ApiKey {key}")
    assert client.get("/v1/orgs/self").status_code == 200
    Membership.objects.filter(user=people.bob).delete()
    response = client.get("/v1/orgs/self")
    assert response.status_code == 401 and response.json()["type"] == "AUTHEXCEPTION"
