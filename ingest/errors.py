"""AWS errors the engine meets, and what to tell the person who must fix them."""

from __future__ import annotations

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
    return f"{action} on {resource} failed: {error.code}: {error.message}. Millrace will retry; press Retry to try now."
