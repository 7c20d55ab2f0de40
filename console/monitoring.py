"""What monitoring reads: /metrics for Prometheus, /readyz for load balancers and probes, and the web
process's own request counters.

/metrics is for a scraper, not a person: it takes `Authorization: Bearer <MILLRACE_METRICS_TOKEN>` and
never the console's session (an operator's browser can't leak it by a link), and refuses everyone while
no token is set. Its counters are every process's on this machine (prometheus-client's multiprocess
files); its per-collection figures are read from the database at that moment (ingest/scrape.py).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

from console.celery import app as celery_app
from console.models import Heartbeat
from ingest import timing
from ingest.scrape import CollectionCollector

REQUESTS = Counter(
    "millrace_http_requests", "Web and API requests answered, by view and status.", ["view", "method", "status"]
)
LATENCY = Histogram(
    "millrace_http_request_duration_seconds",
    "How long the web process took to answer, by view.",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
log = logging.getLogger(__name__)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BROKER_TIMEOUT = 3.0


def _view_name(request: HttpRequest) -> str:
    """The URL pattern's name (bounded: one per route), or `unmatched` for addresses that aren't ours."""
    match = getattr(request, "resolver_match", None)
    return (match.view_name or "unnamed") if match else "unmatched"


class RequestMetricsMiddleware:
    """Counts and times every request by view and status (outermost, so refusals and redirects count)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        view = _view_name(request)
        method = request.method if request.method in METHODS else "other"
        REQUESTS.labels(view, method, str(response.status_code)).inc()
        LATENCY.labels(view).observe(time.perf_counter() - started)
        return response


def clear_metrics_dir() -> None:
    """Forget the counters of earlier runs (prometheus-client's advice: wipe the folder before the processes
    start), so /metrics sums only the processes started since; called by `manage.py serve` at start."""
    for path in settings.MILLRACE_METRICS_DIR.glob("*.db"):
        path.unlink(missing_ok=True)


class QueueCollector:
    """Messages waiting in each of the broker's queues at scrape time (a task queued with a countdown is held
    by a worker until due, so it is not counted). A broker that doesn't answer leaves the series out."""

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("millrace_queue_messages", "Tasks waiting in the broker's queue.", labels=["queue"])
        try:
            with celery_app.connection_for_read() as conn:
                conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
                channel = conn.default_channel
                for queue in settings.CELERY_TASK_QUEUES:
                    depth.add_metric([queue], channel.queue_declare(queue=queue, passive=True).message_count)
        except Exception:  # noqa: BLE001 - the rest of the scrape is worth having; /readyz says the broker is down
            log.warning("queue depth for /metrics: the broker did not answer", exc_info=True)
            return
        yield depth


def _bearer_token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    expected = settings.MILLRACE_METRICS_TOKEN
    if not expected:
        return HttpResponse(
            "Metrics are off: set MILLRACE_METRICS_TOKEN in the environment, then send it as "
            "'Authorization: Bearer <token>'.\n",
            status=403,
            content_type="text/plain",
        )
    if not hmac.compare_digest(_bearer_token(request).encode(), expected.encode()):
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="millrace-metrics"'
        return response
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(settings.MILLRACE_METRICS_DIR))
    registry.register(CollectionCollector(timezone.now()))
    registry.register(QueueCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _database() -> dict[str, object]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the probe shows which
        return {"ok": False, "error": f"{type(exc).__name__}: the database (DATABASE_URL) does not answer."}
    return {"ok": True}


def _broker() -> dict[str, object]:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the probe shows which
        return {"ok": False, "error": f"{type(exc).__name__}: the broker (CELERY_BROKER_URL) does not answer."}
    return {"ok": True}


def _supervisor() -> dict[str, object]:
    """Beat sends the tick and a worker runs it (console/tasks.py), so a recent Heartbeat shows both alive."""
    seen = Heartbeat.objects.filter(name="worker").values_list("seen_at", flat=True).first()
    if seen is None:
        return {"ok": False, "error": "The supervisor's tick has never run: start Celery beat and a worker."}
    age = (timezone.now() - seen).total_seconds()
    bound = max(timing.STALL_SECONDS, 3 * timing.tick())
    check: dict[str, object] = {"ok": age < bound, "last_tick_seconds_ago": round(age, 1)}
    if age >= bound:
        check["error"] = f"No worker has run beat's tick for {timing.duration(age)}: is beat running, and a worker?"
    return check


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer and beat's tick ran on a worker recently; else 503,
    with each check's verdict (no secrets: what failed, not the URL)."""
    checks = {"database": _database(), "broker": _broker()}
    checks["supervisor"] = _supervisor() if checks["database"]["ok"] else {"ok": False, "error": "no database"}
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ready" if ready else "unready", "checks": checks}, status=200 if ready else 503)
