"""Production as the README's production section runs it: gunicorn, a Celery worker and one Celery beat, each
a process of its own, on PostgreSQL and Redis, behind a TLS-terminating proxy (played by the headers this
test sends), with the production defaults (DEBUG off, HTTPS on). A collection is created through the REST
API that gunicorn serves and followed to live sync against a moto server."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from django.conf import settings

from collections_app.models import Collection, Source
from console.services import api_key_create
from tests.e2e.conftest import free_port
from tests.ingest.engine import assert_equal_to_table, item, make_table
from tests.processes import ROOT, bound_process
from tests.processes import test_database_url as database_url  # aliased: pytest would collect test_*

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# What the proxy in front of gunicorn adds: the request came over HTTPS.
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}


def production_env(broker: str, moto_endpoint: str, tmp_path: Path) -> dict[str, str]:
    """The environment the README's production section sets (PostgreSQL, Redis for the broker and the cache,
    keys from the environment), with the production defaults left alone: no DEBUG, MILLRACE_HTTPS on."""
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "MILLRACE_HTTPS", "SECURE_SSL_REDIRECT")}
    env.update(
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL=broker,
        CACHE_URL=broker,
        SECRET_KEY=settings.SECRET_KEY,
        MILLRACE_ENCRYPTION_KEYS=",".join(settings.MILLRACE_ENCRYPTION_KEYS),
        MILLRACE_BEHIND_PROXY="on",
        MILLRACE_AWS_ENDPOINT_URL=moto_endpoint,
        EMAIL_URL=f"filemail://{tmp_path / 'mail'}",
        MILLRACE_TICK_SECONDS="1",  # the default 5 s works the same, slower
        PYTHONUNBUFFERED="1",
    )
    return env


def wait_for(predicate: Callable[[], object], what: str, logs: list[Path], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    tails = "\n".join(f"--- {log.name}\n" + "".join(log.read_text().splitlines(True)[-40:]) for log in logs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def answers(url: str) -> bool:
    try:
        return requests.get(url, headers=PROXY_HEADERS, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def test_gunicorn_worker_and_beat_on_postgresql_and_redis_reach_live_sync(people, moto_server, broker, tmp_path):
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("production runs on PostgreSQL: run this test with DATABASE_URL set to one, as make test does")
    env = production_env(broker, moto_server.endpoint, tmp_path)
    check = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                           cwd=ROOT, env=env, capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    static = subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert static.returncode == 0, static.stderr

    make_table(moto_server.dynamodb, "orders", 120)
    from integrations.models import Integration
    from tests.conftest import ROLE_ARN

    Integration.objects.create(
        organisation=people.acme, name="prod", scope="all", role_arn=ROLE_ARN, status=Integration.Status.VALIDATED
    )
    key = api_key_create(user=people.alice, organisation=people.acme, name="production-test")[1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    logs = [tmp_path / "gunicorn.log", tmp_path / "worker.log", tmp_path / "beat.log"]
    celery = [sys.executable, "-m", "celery", "-A", "console"]
    with (
        bound_process([sys.executable, "-m", "gunicorn", "console.wsgi", "--bind", f"127.0.0.1:{port}",
                       "--workers", "2", "--access-logfile", "-"], env=env, log=logs[0]),
        bound_process([*celery, "worker", "-l", "info", "--concurrency", "2", "-n", f"prod{os.getpid()}@%h"],
                      env=env, log=logs[1]),
        bound_process([*celery, "beat", "-l", "info", "-s", str(tmp_path / "celerybeat-schedule")],
                      env=env, log=logs[2]),
    ):  # fmt: skip
        wait_for(lambda: answers(f"{base}/healthz"), "gunicorn to answer", logs, timeout=60)
        api = requests.Session()
        api.headers.update({**PROXY_HEADERS, "Authorization": f"ApiKey {key}"})

        # The console's pages: served by gunicorn with the production headers, static files by whitenoise.
        login = requests.get(f"{base}/login/", headers=PROXY_HEADERS, timeout=10)
        assert login.status_code == 200 and "Log in" in login.text
        assert login.headers["Strict-Transport-Security"].endswith("includeSubDomains")
        assert "script-src 'self'" in login.headers["Content-Security-Policy"]
        assert "csrftoken=" in login.headers["Set-Cookie"] and "Secure" in login.headers["Set-Cookie"]
        css = requests.get(f"{base}/static/css/millrace.css", headers=PROXY_HEADERS, timeout=10)
        assert css.status_code == 200 and ".htmx-indicator" in css.text
        plain = requests.get(f"{base}/login/", timeout=10, allow_redirects=False)
        assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")

        # A collection through the REST API, as Rockset's scripts create one.
        scan = {"table_name": "orders", "aws_region": "us-east-1", "use_scan_api": True, "rcu": 40}
        source = {"integration_name": "prod", "dynamodb": scan}
        created = api.post(f"{base}/v1/orgs/self/ws/commons/collections",
                           json={"name": "orders", "sources": [source]}, timeout=60)  # fmt: skip
        assert created.status_code == 200, created.text
        assert created.json()["data"]["status"] == "CREATED"

        def status() -> str:
            return api.get(f"{base}/v1/orgs/self/ws/commons/collections/orders", timeout=10).json()["data"]["status"]

        wait_for(lambda: status() == "READY", "the collection to be READY (initial load done)", logs)
        collection = Collection.objects.get(name="orders", workspace__organisation=people.acme)
        row = Source.objects.get(collection=collection)

        def in_sync() -> bool:
            try:
                assert_equal_to_table(row, moto_server.dynamodb)
            except AssertionError:
                return False
            return True

        wait_for(in_sync, "the initial load to match the table", logs)
        rng = random.Random(11)
        for n in range(500, 530):
            moto_server.dynamodb.put_item(TableName="orders", Item=item(n, rng))
        moto_server.dynamodb.delete_item(TableName="orders", Key={"pk": {"S": "item-00003"}})
        wait_for(in_sync, "live changes to arrive through the stream", logs)
        data = api.get(f"{base}/v1/orgs/self/ws/commons/collections/orders", timeout=10).json()["data"]
        dynamodb = data["sources"][0]["dynamodb"]
        assert dynamodb["current_status"]["state"] == "PROCESSING_STREAM", data
        assert data["stats"]["doc_count"] == 120 + 30 - 1
    mails = list((tmp_path / "mail").glob("*.log"))
    assert mails and "the initial load of commons.orders is done" in mails[0].read_text()
