"""The engine's Prometheus counters, incremented where things happen (in whichever process that is).

prometheus-client's multiprocess mode keeps each process's values in a file of its own under
PROMETHEUS_MULTIPROC_DIR (console/settings.py names it before this module is imported), and /metrics sums
them, so a record applied by a worker counts on the web process's page. Labels stay few and bounded: an
AWS operation and error code, a kind of record, a kind of unit; never a shard, document or collection id
(per-collection figures are read from the database at scrape time: ingest/scrape.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter, Histogram, values

log = logging.getLogger(__name__)

if not getattr(values.ValueClass, "_multiprocess", False):  # imported before the settings named the folder
    log.warning("prometheus-client is not in multiprocess mode: /metrics shows only the web process's counters")

RECORDS_APPLIED = Counter(
    "millrace_records_applied",
    "Stream records applied to collections, by kind (insert, modify, remove, ttl_remove).",
    ["kind"],
)
AWS_CALLS = Counter(
    "millrace_aws_calls", "AWS calls the engine made (after botocore's own retries).", ["service", "operation"]
)
AWS_ERRORS = Counter(
    "millrace_aws_errors", "AWS calls that failed, by AWS's error code.", ["service", "operation", "code"]
)
AWS_THROTTLES = Counter(
    "millrace_aws_throttles", "AWS calls answered with throttling (the engine backs off).", ["service", "operation"]
)
LEASE_TAKEOVERS = Counter(
    "millrace_lease_takeovers",
    "Units of work whose holder's lease lapsed (a worker died or was stopped), handed out again.",
    ["unit"],
)
SOURCE_ERRORS = Counter("millrace_source_errors", "Collections stopped with an error.")
RESYNCS = Counter("millrace_resyncs", "Re-syncs started (changes missed, or asked for).")
AUTOMATIC_RETRIES = Counter("millrace_automatic_retries", "Stopped collections retried by the supervisor.")
TICK_SECONDS = Histogram(
    "millrace_supervisor_tick_seconds",
    "How long the supervisor's tick took.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

# Error codes AWS answers when it wants us to slow down (ingest/errors.py backs off on them).
THROTTLING = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "LimitExceededException",
     "SlowDown", "Throttling"}
)  # fmt: skip


def records_applied(kinds: Mapping[str, int]) -> None:
    for kind, count in kinds.items():
        if count:
            RECORDS_APPLIED.labels(kind).inc(count)


def _labels(event_name: str) -> tuple[str, str]:
    """("dynamodb-streams", "GetRecords") from "after-call.dynamodb-streams.GetRecords"."""
    _, service, operation = event_name.split(".", 2)
    return service, operation


def _after_call(event_name: str, http_response: Any, parsed: Mapping[str, Any], **kwargs: Any) -> None:
    service, operation = _labels(event_name)
    AWS_CALLS.labels(service, operation).inc()
    if http_response.status_code >= 300:
        _failed(service, operation, (parsed.get("Error") or {}).get("Code") or str(http_response.status_code))


def _after_call_error(event_name: str, exception: Exception, **kwargs: Any) -> None:
    """No answer at all (a connection refused, a read timed out)."""
    service, operation = _labels(event_name)
    AWS_CALLS.labels(service, operation).inc()
    _failed(service, operation, type(exception).__name__)


def _failed(service: str, operation: str, code: str) -> None:
    AWS_ERRORS.labels(service, operation, code).inc()
    if code in THROTTLING:
        AWS_THROTTLES.labels(service, operation).inc()


def instrument(client: Any) -> Any:
    """Count the client's calls through botocore's own events, which fire once per call after its retries;
    registering again (clients are cached per process) is a no-op."""
    events = client.meta.events
    events.register("after-call.*.*", _after_call, unique_id="millrace-metrics-after-call")
    events.register("after-call-error.*.*", _after_call_error, unique_id="millrace-metrics-after-call-error")
    return client
