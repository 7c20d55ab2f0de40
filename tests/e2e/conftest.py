"""End-to-end: a real Celery worker (with beat) on Redis, the test database, and a moto server."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace

import boto3
import pytest
from celery import Celery
from moto.server import ThreadedMotoServer

from console.celery import app as celery_app
from console.sandbox import moto_exports, moto_json, moto_shards
from integrations.models import Integration
from tests.conftest import ROLE_ARN
from tests.processes import redis_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def moto_server(request) -> Iterator[SimpleNamespace]:
    """A moto server in this process (streams roll over every 40 records, exports are written in AWS's
    layout, 100 items a file, after a second; a `moto` mark changes these), reset after the test."""
    marker = request.node.get_closest_marker("moto")
    options = {"records_per_shard": 40, "items_per_file": 100, **(marker.kwargs if marker else {})}
    undo_json = moto_json.install()
    undo_shards = moto_shards.install(records_per_shard=options["records_per_shard"])
    undo_exports = moto_exports.install(items_per_file=options["items_per_file"], seconds=1)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    try:
        yield SimpleNamespace(
            endpoint=endpoint,
            dynamodb=session.client("dynamodb", endpoint_url=endpoint),
            s3=session.client("s3", endpoint_url=endpoint),
        )
    finally:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
        server.stop()
        undo_exports()
        undo_shards()
        undo_json()


@pytest.fixture
def broker(monkeypatch) -> str:
    """Redis for the worker; what this process queues goes there too."""
    url = redis_url()
    import redis

    redis.Redis.from_url(url).flushdb()
    # The tasks patched below must be the console app's: other threads (the live server's) resolve a
    # `shared_task` through the default app, which is the console's, and this thread through its current
    # app, which a producer made by an earlier test may have become.
    celery_app.set_current()
    producer = Celery("e2e-producer", broker=url, set_as_current=False)
    for name in ("start_initial_load", "scan_segment", "read_shard", "poll_export", "load_export_file"):
        monkeypatch.setattr(
            f"ingest.tasks.{name}.delay", lambda *args, name=name: producer.send_task(f"ingest.tasks.{name}", args=args)
        )
    return url


@pytest.fixture
def e2e_integration(people, settings, moto_server):
    settings.MILLRACE_AWS_ENDPOINT_URL = moto_server.endpoint
    return Integration.objects.create(
        organisation=people.acme, name="prod", scope="all", role_arn=ROLE_ARN, status=Integration.Status.VALIDATED
    )
