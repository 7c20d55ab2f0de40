"""AWS errors the engine meets, and what to tell the person who must fix them."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import InvalidToken

from ingest import metrics
from integrations import aws
from integrations.aws import AwsError

THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
}
# Network trouble and AWS's own hiccups: retried with backoff, never a reason to stop a collection.
TRANSIENT = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
}
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"}


def should_retry(error: AwsError) -> bool:
    """Throttling and transient failures: back off and try again, losing nothing."""
    return error.code in THROTTLING or error.code in TRANSIENT


def explain(error: AwsError, *, action: str, resource: str, integration_name: str) -> str:
    """One paragraph: what failed, AWS's words, and what to change."""
    if error.operation == "AssumeRole":  # the client couldn't be built: the role, not the data call, failed
        action, resource = "sts:AssumeRole", f"the role of integration “{integration_name}”"
    if error.code in DENIED:
        return (
            f"AWS refused {action} on {resource}: {error.message} "
            f"Allow {action} on {resource} in the IAM policy of integration “{integration_name}”, then press Retry."
        )
    if error.code == "ResourceNotFoundException":
        return f"{resource} no longer exists ({error.message}). Re-create it, or delete this collection."
    if error.code in {"ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"}:
        return (
            f"The credentials of integration “{integration_name}” were refused ({error.code}: {error.message}). "
            "Edit the integration with working credentials, then press Retry."
        )
    if error.code == "UndecryptableSecret":
        return f"{error.message} Give every worker the same keys, or edit the integration to enter the secret again."
    said = error.message.rstrip(".")  # botocore's messages sometimes end with a full stop, sometimes not
    return f"{action} on {resource} failed: {error.code}: {said}. Millrace will retry; press Retry to try now."


class BadData(Exception):
    """What AWS handed us can't be applied (a malformed export line, a record without keys): the source
    stops with the file or shard named, rather than retrying the same bytes forever."""


def engine_client(source: Any, service: str) -> Any:
    """The source's AWS client. Raises the AwsError that kept it from being built (AssumeRole refused, the
    stored secret not decryptable with this worker's MILLRACE_ENCRYPTION_KEYS), for the caller to show."""
    try:
        return metrics.instrument(aws.integration_client(source.integration, service, source.region))
    except InvalidToken:
        raise AwsError(
            "UndecryptableSecret",
            f"The secret of integration “{source.integration.name}” can't be decrypted with this worker's "
            "MILLRACE_ENCRYPTION_KEYS (another installation's key, or a key dropped too early).",
        ) from None
    except Exception as exc:  # noqa: BLE001 - every failure to reach AWS is shown with its cause
        error = as_error(exc, f"integration “{source.integration.name}”")
        error.operation = error.operation or "AssumeRole"
        raise error from exc


def as_error(exc: Exception, where: str) -> AwsError:
    """botocore's errors as AwsError; anything else (a bug, a damaged response) too, with its type named,
    so that every failure inside a unit of work ends in a message rather than a stuck task."""
    try:
        return aws.as_aws_error(exc)
    except Exception:  # noqa: BLE001 - as_aws_error re-raises what it doesn't know
        return AwsError(type(exc).__name__, f"{exc} (while working on {where})")
