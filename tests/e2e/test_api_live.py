"""The REST API end to end: the official rockset client (2.1.2) against a live server, a real Celery worker
with beat, and a moto server, from creating the integration to the collection following the stream."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import boto3
import pytest
from celery import Celery
from celery import _state as celery_state
from rockset.models import AwsRole, DynamodbIntegration, DynamodbSourceWrapper

from console.services import api_key_create
from tests.api.conftest import rockset_client
from tests.conftest import ROLE_ARN
from tests.e2e.test_live_sync import worker_env
from tests.ingest.engine import item, make_table
from tests.processes import celery_worker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def poll(rs, what: str, until: Callable, timeout: float = 120):
    """GET the collection through the client until `until(collection)` holds; returns the collection."""
    deadline = time.monotonic() + timeout
    while True:
        collection = rs.Collections.get(collection="t").data
        if until(collection):
            return collection
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last seen: {collection.to_dict()}")
        time.sleep(0.5)


def following_the_stream(docs: int) -> Callable:
    def check(c) -> bool:
        state = c.sources[0].dynamodb.current_status["state"]
        return state == "PROCESSING_STREAM" and c.status == "READY" and c.stats.doc_count == docs

    return check


@pytest.fixture
def api(people, live_server, settings, moto_server, broker, monkeypatch):
    settings.MILLRACE_AWS_ENDPOINT_URL = moto_server.endpoint  # the web server's AWS calls go to moto too
    # `broker` patches the tasks of this thread's current Celery app; the live server's thread resolves the
    # shared tasks through Celery's default app (made on first use), so patch that app's tasks too.
    producer = Celery("api-e2e-producer", broker=broker, set_as_current=False)
    celery_state._get_current_app()  # makes the default app now if no thread has yet
    for app in {celery_state.default_app, *celery_state._get_active_apps()} - {producer}:
        for name, task in list(app.tasks.items()):
            if name.startswith("ingest.tasks."):
                send = lambda *args, name=name: producer.send_task(name, args=args)  # noqa: E731
                monkeypatch.setattr(task, "delay", send)
    _, key = api_key_create(user=people.alice, organisation=people.acme, name="scripts")
    return rockset_client(live_server.url, key)


def test_a_scan_collection_made_with_the_client_follows_the_stream(api, moto_server, broker, tmp_path):
    make_table(moto_server.dynamodb, "events", 120)
    api.Integrations.create_dynamodb_integration(
        name="prod", dynamodb=DynamodbIntegration(aws_role=AwsRole(aws_role_arn=ROLE_ARN))
    )
    source = DynamodbSourceWrapper(
        integration_name="prod", table_name="events", aws_region="us-east-1", use_scan_api=True, rcu=40
    )
    created = api.Collections.create_dynamodb_collection(name="t", sources=[source]).data
    source_id = created.sources[0].id
    with celery_worker(broker, beat=True, log=tmp_path / "worker.log", **worker_env(moto_server, tmp_path)):
        ready = poll(api, "the initial scan", following_the_stream(120))
        status = ready.sources[0].dynamodb.current_status
        assert status["initial_dump_completion_percentage"] == 100.0 and status["stream_last_processed_at"]
        assert ready.stats.total_size > 0 and ready.stats.last_updated_ms
        assert ready.sources[0].status["state"] == "PROCESSING"

        rng = random.Random(3)
        for n in range(1000, 1010):
            moto_server.dynamodb.put_item(TableName="events", Item=item(n, rng))
        poll(api, "ten new items", following_the_stream(130))

        assert api.Sources.suspend(collection="t", source=source_id).data.status["state"] == "SUSPENDED"
        assert api.Collections.get(collection="t").data.status == "PAUSED"
        time.sleep(3)  # a read already under way when the source was suspended ends at its next look
        for n in range(2000, 2005):
            moto_server.dynamodb.put_item(TableName="events", Item=item(n, rng))
        time.sleep(2)
        assert api.Collections.get(collection="t").data.stats.doc_count == 130  # nothing read while suspended
        api.Sources.resume(collection="t", source=source_id)
        poll(api, "the changes made while suspended", following_the_stream(135))

        assert api.Collections.delete(collection="t").data.status == "DELETED"
        assert api.Collections.list().data == []


def test_an_export_collection_made_with_the_client_follows_the_stream(api, moto_server, broker, tmp_path):
    make_table(moto_server.dynamodb, "events", 120)
    moto_server.dynamodb.update_continuous_backups(
        TableName="events", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    s3 = boto3.client("s3", endpoint_url=moto_server.endpoint, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip
    s3.create_bucket(Bucket="millrace-exports")
    api.Integrations.create_dynamodb_integration(
        name="prod",
        dynamodb=DynamodbIntegration(aws_role=AwsRole(aws_role_arn=ROLE_ARN), s3_export_bucket_name="millrace-exports"),
    )
    source = DynamodbSourceWrapper(
        integration_name="prod", table_name="events", aws_region="us-east-1", use_scan_api=False
    )
    api.Collections.create_dynamodb_collection(name="t", sources=[source])
    with celery_worker(broker, beat=True, log=tmp_path / "worker.log", **worker_env(moto_server, tmp_path)):
        ready = poll(api, "the export load", following_the_stream(120), timeout=180)
        assert ready.sources[0].dynamodb.use_scan_api is False
