"""Per-collection figures for /metrics, read from the database when Prometheus scrapes.

Computed at scrape time rather than kept in process gauges: whichever worker applied the records, on
whichever machine, the rows hold the truth, so the figures are exact (the documents gauge is the
collection's count) and survive restarts. A few queries per scrape whatever the number of collections.
Labels: organisation, workspace, collection (and a state or kind); never a shard or document id.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.db.models import Count, Q
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from collections_app.models import Collection, Source
from console.models import Heartbeat
from ingest import lag
from ingest.alerts import behind, shard_figures, worker_quiet
from ingest.models import ExportFile, LagAlert, Shard, SourceEvent

LABELS = ["organisation", "workspace", "collection"]
Kind = SourceEvent.Kind
EVENT_KINDS = [Kind.ERROR, Kind.RESYNC, Kind.RETRIED, Kind.LAG_ALERT]  # per collection: few, and worth a graph


class CollectionCollector:
    """A prometheus-client custom collector (registered on /metrics' registry for each scrape)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def collect(self) -> Iterator[Metric]:
        now = self.now
        live = Source.objects.exclude(collection__status=Collection.Status.DELETED)
        sources = list(live.select_related("collection__workspace__organisation").order_by("pk"))
        ids = live.values("pk")  # a subquery: no list of ids, however many collections
        shards = shard_figures(ids)
        files = {
            r["source_id"]: r
            for r in ExportFile.objects.filter(source_id__in=ids)
            .values("source_id")
            .annotate(total=Count("pk"), done=Count("pk", filter=Q(done=True)))
        }
        shard_counts = {  # finished and idle shards, in one pass over the shards
            r["source_id"]: r
            for r in Shard.objects.filter(source_id__in=ids)
            .values("source_id")
            .annotate(
                finished=Count("pk", filter=Q(done=True)), idle=Count("pk", filter=Q(done=False, idle_polls__gt=0))
            )
        }
        happened: dict[tuple[int, str], int] = {
            (r["source_id"], r["kind"]): r["n"]
            for r in SourceEvent.objects.filter(source_id__in=ids, kind__in=EVENT_KINDS)
            .values("source_id", "kind")
            .annotate(n=Count("pk"))
        }
        worker_down = worker_quiet(now)
        alerting = set(
            LagAlert.objects.filter(source_id__in=ids, raised_at__isnull=False).values_list("source_id", flat=True)
        )

        def gauge(name: str, doc: str, extra: list[str] | None = None) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=LABELS + (extra or []))

        state = gauge("millrace_collection_state", "1 for the source's current state, 0 for the others.", ["state"])
        paused = gauge("millrace_collection_paused", "1 while the collection is paused.")
        error = gauge("millrace_collection_error", "1 while the collection is stopped with an error.")
        stalled = gauge("millrace_collection_stalled", "1 while a unit of work makes no progress (reason on its page).")
        lag_alert = gauge("millrace_collection_lag_alert", "1 while the collection's lag alert is raised.")
        documents = gauge("millrace_collection_documents", "Documents in the collection.")
        size = gauge("millrace_collection_bytes", "Total size of the collection's documents.")
        behind_ms = gauge(
            "millrace_collection_behind_source_milliseconds",
            "Now minus the newest applied record's ApproximateCreationDateTime; 0 when every shard is caught up.",
        )
        since_read = gauge(
            "millrace_collection_since_last_read_seconds", "Seconds since the stream's last successful read."
        )
        items_loaded = gauge("millrace_collection_load_items", "Items loaded by the initial load.")
        items_expected = gauge("millrace_collection_load_items_expected", "The table's ItemCount when the load began.")
        load_rcu = gauge("millrace_collection_load_rcu_consumed", "Read capacity units the initial load consumed.")
        load_ratio = gauge("millrace_collection_load_completion_ratio", "The initial load's progress, 0 to 1.")
        files_total = gauge("millrace_collection_load_files", "Data files of the S3 export.")
        files_done = gauge("millrace_collection_load_files_done", "Data files of the S3 export loaded.")
        shards_open = gauge("millrace_collection_shards_open", "Stream shards not yet read to their end.")
        shards_done = gauge("millrace_collection_shards_finished", "Stream shards read to their end.")
        shards_quiet = gauge(
            "millrace_collection_shards_idle", "Open shards whose last poll found nothing (polled less often)."
        )
        retries = gauge("millrace_collection_automatic_retries", "Automatic retries since the last clean run.")
        events = gauge(
            "millrace_collection_events",
            "Errors, re-syncs, retries and lag alerts in the collection's history (MILLRACE_EVENT_RETENTION_DAYS).",
            ["kind"],
        )
        records = CounterMetricFamily(
            "millrace_collection_stream_records_applied",
            "Stream records applied since the last (re-)load.",
            labels=LABELS,
        )
        deletes = CounterMetricFamily(
            "millrace_collection_deletes",
            "Removes applied since the last (re-)load, by kind.",
            labels=[*LABELS, "kind"],
        )
        for source in sources:
            collection = source.collection
            names = [collection.workspace.organisation.name, collection.workspace.name, collection.name]
            for value in Source.State.values:
                state.add_metric([*names, value], 1.0 if source.state == value else 0.0)
            paused.add_metric(names, 1.0 if source.suspended_at else 0.0)
            error.add_metric(names, 1.0 if source.error else 0.0)
            stalled.add_metric(names, 1.0 if source.stalled else 0.0)
            lag_alert.add_metric(names, 1.0 if source.pk in alerting else 0.0)
            documents.add_metric(names, collection.doc_count)
            size.add_metric(names, collection.total_size_bytes)
            figures = shards.get(source.pk, lag.Shards())
            seconds = behind(source, figures, now, worker_down)
            if seconds is not None:
                behind_ms.add_metric(names, round(seconds * 1000))
            if source.stream_last_processed_at:
                since_read.add_metric(names, max(0.0, (now - source.stream_last_processed_at).total_seconds()))
            items_loaded.add_metric(names, source.items_loaded)
            items_expected.add_metric(names, source.items_expected)
            load_rcu.add_metric(names, source.rcu_consumed)
            load_ratio.add_metric(names, source.completion_percentage / 100)
            if source.load_method == Source.LoadMethod.EXPORT:
                export = files.get(source.pk, {})
                files_total.add_metric(names, export.get("total", 0))
                files_done.add_metric(names, export.get("done", 0))
            shards_open.add_metric(names, figures.open)
            shards_done.add_metric(names, shard_counts.get(source.pk, {}).get("finished", 0))
            shards_quiet.add_metric(names, shard_counts.get(source.pk, {}).get("idle", 0))
            retries.add_metric(names, source.auto_retries)
            for kind in EVENT_KINDS:
                events.add_metric([*names, kind], happened.get((source.pk, kind), 0))
            records.add_metric(names, source.stream_records_applied)
            deletes.add_metric([*names, "user"], source.user_deletes)
            deletes.add_metric([*names, "ttl"], source.ttl_deletes)
        yield from (state, paused, error, stalled, lag_alert, documents, size, behind_ms, since_read)
        yield from (items_loaded, items_expected, load_rcu, load_ratio, files_total, files_done)
        yield from (shards_open, shards_done, shards_quiet, retries, events, records, deletes)
        seen = Heartbeat.last_seen("worker")
        if seen is not None:
            tick = GaugeMetricFamily(
                "millrace_supervisor_last_tick_age_seconds",
                "Seconds since a worker last ran beat's supervisor tick (both beat and a worker are needed).",
            )
            tick.add_metric([], max(0.0, (now - seen).total_seconds()))
            yield tick
