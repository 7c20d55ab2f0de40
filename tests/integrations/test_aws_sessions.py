from __future__ import annotations

import datetime as dt
import io

import pytest
from botocore.exceptions import EndpointConnectionError
from django.core.management import call_command

from integrations import aws as aws_sessions
from integrations import crypto
from integrations.models import Integration
from tests.conftest import ACCESS_KEY_ID, ROLE_ARN, SECRET_ACCESS_KEY


@pytest.fixture
def role_integration(people):
    integration = Integration.objects.create(organisation=people.acme, name="r", table_name="orders", role_arn=ROLE_ARN)
    aws_sessions.forget_cached_session(integration)
    return integration


def test_assume_role_passes_the_organisations_external_id(role_integration, aws, faults):
    calls = faults.spy("sts", "AssumeRole")
    session = aws_sessions.integration_session(role_integration)
    arn = aws_sessions.client(session, "sts").get_caller_identity()["Arn"]
    assert (
        arn == f"arn:aws:sts::123456789012:assumed-role/millrace-reader/millrace-org-{role_integration.organisation_id}"
    )
    assert calls == [
        {"RoleArn": ROLE_ARN, "RoleSessionName": f"millrace-org-{role_integration.organisation_id}",
         "ExternalId": role_integration.organisation.external_id, "DurationSeconds": 3600}
    ]  # fmt: skip


def test_assumed_role_credentials_are_cached_and_refreshed_before_they_expire(role_integration, aws, faults):
    calls = faults.spy("sts", "AssumeRole")
    first = aws_sessions.integration_session(role_integration)
    assert aws_sessions.integration_session(role_integration) is first
    credentials = first.get_credentials()
    old_key = credentials.get_frozen_credentials().access_key
    assert len(calls) == 1
    # Ten minutes before expiry is inside botocore's refresh window: the next use assumes the role again.
    credentials._expiry_time = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    assert credentials.get_frozen_credentials().access_key != old_key
    assert len(calls) == 2


def test_an_unreachable_endpoint_becomes_a_clear_message(settings):
    settings.MILLRACE_AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    error = aws_sessions.as_aws_error(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    assert error.code == "EndpointConnectionError"
    assert "Is the sandbox running" in error.message


def test_rotating_the_encryption_key_keeps_secrets_readable(people, settings):
    from cryptography.fernet import Fernet

    integration = Integration(organisation=people.acme, name="k", auth_method="keys", access_key_id=ACCESS_KEY_ID)
    integration.set_secret_access_key(SECRET_ACCESS_KEY)
    integration.save()
    old_key = settings.MILLRACE_ENCRYPTION_KEYS[0]
    settings.MILLRACE_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old_key]
    out = io.StringIO()
    call_command("rotate_encryption_key", stdout=out)
    assert "Re-encrypted 1 secret(s)" in out.getvalue()
    settings.MILLRACE_ENCRYPTION_KEYS = settings.MILLRACE_ENCRYPTION_KEYS[:1]  # the old key is gone
    integration.refresh_from_db()
    assert integration.secret_access_key == SECRET_ACCESS_KEY
    assert crypto.decrypt(integration.secret_access_key_encrypted) == SECRET_ACCESS_KEY


def test_a_client_keeps_a_connection_for_each_call_the_quiet_poll_makes_at_once(role_integration, aws):
    """The quiet-shard poll shares one client among its threads: with fewer pooled connections than threads,
    urllib3 discards one after each call and the next opens a new one (a TLS handshake, on real AWS)."""
    from ingest import stream

    client = aws_sessions.integration_client(role_integration, "dynamodbstreams", "us-east-1")
    assert client.meta.config.max_pool_connections >= stream.QUIET_THREADS


def test_an_error_page_instead_of_an_answer_is_said_in_words_not_markup():
    from botocore.exceptions import ClientError

    page = "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>"
    response = {"Error": {"Code": "500", "Message": page}, "ResponseMetadata": {"HTTPStatusCode": 500}}
    error = aws_sessions.as_aws_error(ClientError(response, "GetRecords"))
    assert error.code == "500" and "<" not in error.message
    assert error.message == "The service answered HTTP 500 with an error page instead of an answer."
