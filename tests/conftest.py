"""Shared fixtures: three users (owner and member of one organisation, a user of another), moto, faults."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import boto3
import pytest
from django.test import Client
from moto import mock_aws

from console.models import Heartbeat, Membership, Organisation
from console.sandbox import moto_json
from console.services import first_admin_create
from ingest import clock
from ingest.clock import VirtualClock
from tests.aws_faults import AwsFaults
from tests.queries.sample import CUSTOMERS, ORDERS, add_collection

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/millrace-reader"
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def virtual_clock(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[VirtualClock | None]:
    """The engine, Django and the tests run on virtual time in every test but the end-to-end ones: leases
    lapse, budgets refill and backoffs pass when the engine sleeps, at once, however busy the machine is."""
    if request.node.get_closest_marker("e2e"):
        yield None
        return
    Heartbeat._cache.clear()  # a per-process cache: nothing carries from one test to the next
    with clock.use(VirtualClock()) as virtual:
        monkeypatch.setattr("django.utils.timezone.now", virtual.now)
        yield virtual


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    """The cache (a file cache in the test's var/) holds the API's rate counters: none carries over from
    one test to the next, whose key may have the same id and whose virtual clock the same minute."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: object) -> None:
    """Real hashers take ~0.3 s a password by design; tests make many accounts."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def static_files_found_per_request(settings: object) -> None:
    """WhiteNoise reads every static file's headers whenever a test client loads the middleware (0.1 s,
    hundreds of times a run); with autorefresh, as under DEBUG, it looks a file up when it is asked for.
    The processes the end-to-end tests start serve them as `make run` does."""
    settings.WHITENOISE_AUTOREFRESH = True


@pytest.fixture
def people(db: None) -> SimpleNamespace:
    """alice owns organisation Acme, bob is a member there, carol belongs to another organisation."""
    alice = first_admin_create(username="alice", email="alice@acme.test", password=PASSWORD, organisation_name="Acme")
    acme = Organisation.objects.get(memberships__user=alice)
    from django.contrib.auth import get_user_model

    bob = get_user_model().objects.create_user("bob", "bob@acme.test", PASSWORD)
    Membership.objects.create(organisation=acme, user=bob)
    carol = get_user_model().objects.create_user("carol", "carol@globex.test", PASSWORD)
    globex = Organisation.objects.create(name="Globex")
    Membership.objects.create(organisation=globex, user=carol)
    return SimpleNamespace(alice=alice, bob=bob, carol=carol, acme=acme, globex=globex)


def client_for(user: object) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def aws() -> Iterator[SimpleNamespace]:
    """moto in-process (answering through console/sandbox/moto_json.py, as the sandbox does), with a table
    that has a stream, one without, and an export bucket."""
    from integrations.aws import forget_all_cached

    forget_all_cached()
    with mock_aws():
        undo_fast_json = moto_json.install()
        session = boto3.Session(region_name=REGION)
        dynamodb = session.client("dynamodb")
        for name, stream in (("orders", True), ("customers", False)):
            extra = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}}
            dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                **(extra if stream else {}),
            )
            dynamodb.put_item(TableName=name, Item={"id": {"S": "1"}})
        session.client("s3").create_bucket(Bucket="millrace-exports")
        try:
            yield SimpleNamespace(session=session, dynamodb=dynamodb)
        finally:
            undo_fast_json()


@pytest.fixture
def faults() -> Iterator[AwsFaults]:
    with AwsFaults() as injected:
        yield injected


@pytest.fixture
def orders(people: SimpleNamespace) -> SimpleNamespace:
    """Acme's orders and customers, and Globex's own `commons.secrets` that no Acme query may reach."""
    add_collection(people.acme, "commons", "orders", ORDERS)
    add_collection(people.acme, "commons", "customers", CUSTOMERS)
    add_collection(people.globex, "commons", "secrets", [{"id": "s", "password": "hunter2"}])
    return people
