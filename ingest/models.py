"""The engine's rows: units of work with leases and checkpoints, and the shared read-capacity ledger."""

from __future__ import annotations

from django.db import models

from collections_app.models import Source


class LeasedWork(models.Model):
    """A unit of work that exactly one worker holds at a time: a lease with an expiry, renewed while the
    worker makes progress and taken over by another worker once it lapses."""

    leased_by = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="When the task last queued for it is due to start."
    )
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="Not to be run before then: a quiet shard's next poll, or a backoff."
    )
    done = models.BooleanField(default=False)
    # What the holder is waiting on (an AWS call, a backoff, the budget) and since when: its heartbeat
    # writes it, so a call that doesn't answer shows as such rather than as silence.
    waiting_on = models.CharField(max_length=100, blank=True)
    waiting_since = models.DateTimeField(null=True, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True, help_text="When work on it was last committed.")
    problem = models.CharField(max_length=500, blank=True, help_text="The last trouble met, e.g. throttling.")
    problem_at = models.DateTimeField(null=True, blank=True)
    retries = models.PositiveIntegerField(default=0, help_text="Backoffs in a row since the last success.")

    class Meta:
        abstract = True


class ScanSegment(LeasedWork):
    """One segment of a parallel Scan (Segment / TotalSegments) and its checkpoint."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="scan_segments")
    segment = models.PositiveIntegerField()
    total_segments = models.PositiveIntegerField()
    last_evaluated_key = models.JSONField(null=True, blank=True, help_text="Where the next page starts.")
    items_loaded = models.BigIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    rcu_consumed = models.FloatField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "segment"], name="one_row_per_scan_segment")]
        ordering = ["source_id", "segment"]

    def __str__(self) -> str:
        return f"segment {self.segment}/{self.total_segments} of {self.source}"


class CapacitySpend(models.Model):
    """Read capacity reserved or spent by a Scan page: the ledger behind the shared RCU budget.

    Every worker reserves here before it calls Scan and settles the figure DynamoDB reports after, so
    the sum over any one-second window stays within the source's budget across all workers."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="capacity_spends")
    at = models.DateTimeField(db_index=True)
    units = models.FloatField()
    in_flight = models.BooleanField(
        default=False, help_text="Reserved by a Scan call not yet answered: it counts until it is settled."
    )

    def __str__(self) -> str:
        return f"{self.units} RCU at {self.at:%H:%M:%S.%f}"


class Shard(LeasedWork):
    """One shard of the source's stream: its lineage, where we have read to, and how busy it is.
    `done` means read to its end (a closed shard whose NextShardIterator came back empty)."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="shards")
    stream_arn = models.CharField(max_length=2048)
    shard_id = models.CharField(max_length=128)
    parent_shard_id = models.CharField(max_length=128, blank=True)
    starting_sequence_number = models.CharField(max_length=64, blank=True)
    ending_sequence_number = models.CharField(max_length=64, blank=True, help_text="Set once the shard closed.")
    checkpoint = models.CharField(max_length=64, blank=True, help_text="Sequence number of the last applied record.")
    iterator = models.TextField(
        blank=True, help_text="NextShardIterator after the checkpoint: the next poll needs no GetShardIterator."
    )
    caught_up = models.BooleanField(default=False, help_text="The last GetRecords found nothing more to read.")
    records_applied = models.BigIntegerField(default=0)
    idle_polls = models.PositiveIntegerField(default=0)
    last_read_at = models.DateTimeField(null=True, blank=True, help_text="The last GetRecords that answered.")
    discovered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "shard_id"], name="one_row_per_shard")]
        ordering = ["source_id", "discovered_at", "shard_id"]

    def __str__(self) -> str:
        return f"{self.shard_id} of {self.source}"


class ExportFile(LeasedWork):
    """One data file of an S3 export, as manifest-files.json lists it, and how far it has been loaded.
    `lines_done` is the checkpoint: a worker taking the file over skips that many lines."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="export_files")
    key = models.CharField(max_length=1024)
    item_count = models.BigIntegerField(help_text="itemCount in the manifest.")
    md5_checksum = models.CharField(max_length=64, help_text="md5Checksum in the manifest (base64).")
    lines_done = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "key"], name="one_row_per_export_file")]
        ordering = ["source_id", "pk"]

    def __str__(self) -> str:
        return f"{self.key.rsplit('/', 1)[-1]} of {self.source}"


class LagAlert(models.Model):
    """A collection's lag alert: its thresholds, and whether it is raised now. The supervisor raises it when
    the collection is `behind_seconds` behind its table (or has read nothing for `unread_seconds` while its
    stream has changes), emails once, and emails again once when it clears (ingest/alerts.py)."""

    DEFAULT_BEHIND_SECONDS = 60
    DEFAULT_UNREAD_SECONDS = 300

    source = models.OneToOneField(Source, on_delete=models.CASCADE, related_name="lag_alert")
    behind_seconds = models.PositiveIntegerField(
        default=DEFAULT_BEHIND_SECONDS, help_text="Alert when the collection is this far behind its table."
    )
    unread_seconds = models.PositiveIntegerField(
        default=DEFAULT_UNREAD_SECONDS, help_text="Alert when nothing was read this long while the stream has changes."
    )
    raised_at = models.DateTimeField(null=True, blank=True, help_text="Since when the alert is raised; empty: clear.")
    reason = models.TextField(blank=True)
    recovered_at = models.DateTimeField(null=True, blank=True, help_text="When the last alert cleared.")

    def __str__(self) -> str:
        return f"lag alert of {self.source}"


class SourceEvent(models.Model):
    """One line of a collection's history, for people: the load started or finished, a pause, an error, a
    re-sync, a lag alert. Kept `MILLRACE_EVENT_RETENTION_DAYS` (ingest/events.py purges older ones)."""

    class Kind(models.TextChoices):
        LOAD_STARTED = "load_started", "Initial load started"
        LOAD_FINISHED = "load_finished", "Initial load finished"
        PAUSED = "paused", "Paused"
        RESUMED = "resumed", "Resumed"
        ERROR = "error", "Stopped with an error"
        RETRIED = "retried", "Retried"
        RESYNC = "resync", "Re-sync"
        LAG_ALERT = "lag_alert", "Lag alert"
        LAG_RECOVERED = "lag_recovered", "Caught up"
        CHANGED = "changed", "Settings changed"

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["source", "-at"], name="source_event_newest_first")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M:%S}"


class SourceSample(models.Model):
    """A live-syncing collection's lag and applied-records count at one minute, taken by the supervisor's
    tick, for the 24-hour charts on its page (kept a day: ingest/samples.py)."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="samples")
    minute = models.DateTimeField()
    behind_seconds = models.FloatField(null=True, blank=True)
    records_applied = models.BigIntegerField(help_text="The source's stream_records_applied then (a running total).")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "minute"], name="one_sample_per_source_minute")]
        ordering = ["source_id", "minute"]

    def __str__(self) -> str:
        return f"{self.source} at {self.minute:%H:%M}"
