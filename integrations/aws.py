"""The one place that builds boto3 sessions and clients, for the deployment and for integrations.

Clients go to MILLRACE_AWS_ENDPOINT_URL when it is set (the sandbox); otherwise to real AWS with
the usual credential chain. Sessions are built lazily, never at import.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError
from django.conf import settings

from ingest import timing
from integrations.models import Integration

# The sandbox accepts any key; these keep botocore from hunting for credentials (and instance metadata).
SANDBOX_KEYS = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}
# Timeouts and retries bound how long one call can take (ingest.timing, where the lease is sized to them).
# One client serves every thread of a process (they are cached below): the quiet-shard poll makes 16 calls
# side by side on one (ingest.stream.QUIET_THREADS). botocore keeps 10 connections by default and opens, then
# discards, a new one (a new TLS handshake) for each call beyond that.
AWS_CONNECTIONS = 32
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": timing.CALL_ATTEMPTS},
    connect_timeout=timing.CONNECT_TIMEOUT,
    read_timeout=timing.READ_TIMEOUT,
    max_pool_connections=AWS_CONNECTIONS,
)

_role_sessions: dict[tuple[Any, ...], boto3.Session] = {}
_role_sessions_lock = threading.Lock()


class AwsError(Exception):
    """An AWS call failed; `code` is AWS's error code, `message` AWS's words, for a person to read."""

    def __init__(self, code: str, message: str, operation: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.operation = operation


def as_aws_error(exc: Exception) -> AwsError:
    """Turn botocore's exceptions into one shape the pages can show."""
    if isinstance(exc, AwsError):
        return exc
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        message = error.get("Message", str(exc))
        if "<html" in message.lower():  # a proxy's or a server's error page, not AWS's words: no markup on pages
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", error.get("Code", ""))
            message = f"The service answered HTTP {status} with an error page instead of an answer."
        return AwsError(error.get("Code", "Error"), message, exc.operation_name)
    if isinstance(exc, EndpointConnectionError):
        where = settings.MILLRACE_AWS_ENDPOINT_URL or "AWS"
        hint = " Is the sandbox running (make run starts it)?" if settings.MILLRACE_AWS_ENDPOINT_URL else ""
        return AwsError("EndpointConnectionError", f"Could not connect to {where}.{hint}")
    if isinstance(exc, NoCredentialsError):
        return AwsError(
            "NoCredentials",
            "Millrace has no AWS credentials of its own. Set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an "
            "instance role for the server, or use an access key integration.",
        )
    if isinstance(exc, BotoCoreError):
        return AwsError(type(exc).__name__, str(exc))
    raise exc


def _session(**kwargs: Any) -> boto3.Session:
    if settings.MILLRACE_AWS_ENDPOINT_URL and not kwargs and not os.environ.get("AWS_ACCESS_KEY_ID"):
        kwargs = dict(SANDBOX_KEYS)
    return boto3.Session(region_name=settings.MILLRACE_AWS_REGION, **kwargs)


def client(session: boto3.Session, service: str, region: str | None = None) -> Any:
    return session.client(
        service,
        region_name=region or settings.MILLRACE_AWS_REGION,
        endpoint_url=settings.MILLRACE_AWS_ENDPOINT_URL,
        config=CLIENT_CONFIG,
    )


def deployment_session() -> boto3.Session:
    """Millrace's own identity: the one customers trust in their role's trust policy."""
    return _session()


def deployment_principal() -> str:
    """The ARN customers put in their role's trust policy (sts:GetCallerIdentity)."""
    try:
        return client(deployment_session(), "sts").get_caller_identity()["Arn"]
    except Exception as exc:  # noqa: BLE001 - every failure becomes a message on the page
        raise as_aws_error(exc) from exc


def _assume_role_session(role_arn: str, external_id: str, session_name: str) -> boto3.Session:
    sts = client(deployment_session(), "sts")

    def refresh() -> dict[str, str]:
        creds = sts.assume_role(
            RoleArn=role_arn, RoleSessionName=session_name, ExternalId=external_id, DurationSeconds=3600
        )["Credentials"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    # botocore refreshes these credentials on its own before they expire (15 minutes ahead).
    credentials = RefreshableCredentials.create_from_metadata(refresh(), refresh, "assume-role")
    core = botocore.session.Session()
    core._credentials = credentials
    return boto3.Session(botocore_session=core, region_name=settings.MILLRACE_AWS_REGION)


def integration_session(integration: Integration) -> boto3.Session:
    """A session with the integration's access. Assumed-role sessions are cached per process."""
    if integration.auth_method == Integration.AuthMethod.KEYS:
        return _session(
            aws_access_key_id=integration.access_key_id,
            aws_secret_access_key=integration.secret_access_key,
        )
    external_id = integration.organisation.external_id
    session_name = f"millrace-org-{integration.organisation_id}"
    if integration.pk is None:  # a wizard still being filled in: nothing to cache yet
        return _assume_role_session(integration.role_arn, external_id, session_name)
    key = (integration.pk, integration.role_arn, external_id)
    with _role_sessions_lock:
        if key not in _role_sessions:
            _role_sessions[key] = _assume_role_session(integration.role_arn, external_id, session_name)
        return _role_sessions[key]


_clients: dict[tuple[Any, ...], Any] = {}


def integration_client(integration: Integration, service: str, region: str) -> Any:
    """A client with the integration's access, kept per process (boto3 clients are thread-safe): building
    one costs ~13 ms, and a key pair's session ~100 ms, which an idle shard's poll would pay every time.
    The key holds everything the client depends on, so an edited integration gets a new one."""
    if integration.pk is None:
        return client(integration_session(integration), service, region)
    key = (
        integration.pk, integration.auth_method, integration.role_arn, integration.access_key_id,
        integration.secret_access_key_encrypted, integration.organisation.external_id, service, region,
        settings.MILLRACE_AWS_ENDPOINT_URL,
    )  # fmt: skip
    with _role_sessions_lock:
        cached = _clients.get(key)
    if cached is None:
        cached = client(integration_session(integration), service, region)
        with _role_sessions_lock:
            _clients[key] = cached
    return cached


def forget_cached_session(integration: Integration) -> None:
    with _role_sessions_lock:
        for key in [k for k in _role_sessions if k[0] == integration.pk]:
            del _role_sessions[key]
        for key in [k for k in _clients if k[0] == integration.pk]:
            del _clients[key]


def forget_all_cached() -> None:
    """Tests: a new moto account for every test, so no client outlives one."""
    with _role_sessions_lock:
        _role_sessions.clear()
        _clients.clear()


def default_region() -> str:
    return settings.MILLRACE_AWS_REGION
