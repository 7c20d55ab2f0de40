"""Workspaces, collections and their DynamoDB sources (one table each)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property

from console.models import Heartbeat, Organisation, OrganisationQuerySet
from ingest import lag, timing
from ingest.convert import ExactJSONDecoder, ExactJSONEncoder
from integrations.models import Integration


class WorkspaceQuerySet(OrganisationQuerySet):
    """Reached only through `for_organisation`, like every organisation-owned model."""


class Workspace(models.Model):
    """A namespace for collections, as in Rockset; `commons` is every organisation's default."""

    DEFAULT_NAME = "commons"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="workspaces")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "name"], name="workspace_unique_per_org")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CollectionQuerySet(OrganisationQuerySet):
    """A DELETED collection is gone as far as any person or script can tell (its rows wait to be purged),
    so the scoped path never yields one: not in lists, not in counts, not by name."""

    organisation_path = "workspace__organisation"

    def for_organisation(self, organisation: Organisation) -> CollectionQuerySet:
        return super().for_organisation(organisation).exclude(status=Collection.Status.DELETED)


class Collection(models.Model):
    """A mirror of one DynamoDB table, kept in sync by the ingest engine through its source."""

    class Status(models.TextChoices):
        CREATED = "CREATED", "Created"
        READY = "READY", "Ready"
        PAUSED = "PAUSED", "Paused"
        DELETED = "DELETED", "Deleted"

    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="collections")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATED)
    doc_count = models.BigIntegerField(default=0)
    total_size_bytes = models.BigIntegerField(default=0)
    last_updated_at = models.DateTimeField(null=True, blank=True, help_text="When a document last changed.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CollectionQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="collection_unique_per_workspace")]
        ordering = ["workspace__name", "name"]

    def __str__(self) -> str:
        return f"{self.workspace.name}.{self.name}"

    @property
    def source(self) -> Source:
        return self.sources.all()[0]


class Source(models.Model):
    """Where a collection's documents come from: one DynamoDB table through one integration, with the
    load method and limits the user chose, and the state the ingest engine reports."""

    class LoadMethod(models.TextChoices):
        EXPORT = "export", "Export using S3"
        SCAN = "scan", "Table Scan"

    class State(models.TextChoices):
        INITIALIZING = "INITIALIZING", "Initializing"
        SCANNING = "SCANNING", "Scanning the table"
        EXPORTING_TO_S3 = "EXPORTING_TO_S3", "Exporting to S3"
        DOWNLOADING_FROM_S3 = "DOWNLOADING_FROM_S3", "Downloading the export"
        PROCESSING_STREAM = "PROCESSING_STREAM", "Following the stream"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="sources")
    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="sources")
    table_name = models.CharField(max_length=255)
    region = models.CharField(max_length=32)
    load_method = models.CharField(max_length=10, choices=LoadMethod.choices)
    rcu = models.PositiveIntegerField(null=True, blank=True, help_text="Read capacity budget for Table Scan.")
    poll_frequency_ms = models.PositiveIntegerField(default=1000)
    may_enable_pitr = models.BooleanField(default=False, help_text="The user let Millrace turn on PITR for export.")

    # The table as DescribeTable showed it when the collection was created.
    table_arn = models.CharField(max_length=2048, blank=True)
    key_schema = models.JSONField(default=list)
    billing_mode = models.CharField(max_length=20, blank=True)
    provisioned_rcu = models.PositiveIntegerField(null=True, blank=True)
    table_item_count = models.BigIntegerField(default=0)
    table_size_bytes = models.BigIntegerField(default=0)

    state = models.CharField(max_length=24, choices=State.choices, default=State.INITIALIZING)
    state_changed_at = models.DateTimeField(auto_now_add=True)
    error = models.TextField(blank=True, help_text="What stopped the source, in words a person can act on.")
    error_at = models.DateTimeField(null=True, blank=True)
    auto_retries = models.PositiveIntegerField(default=0, help_text="Automatic retries since the last clean run.")
    suspended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # Initial load progress, as the engine reports it.
    load_started_at = models.DateTimeField(null=True, blank=True)
    load_finished_at = models.DateTimeField(null=True, blank=True)
    items_expected = models.BigIntegerField(default=0, help_text="DynamoDB's ItemCount when the load started.")
    items_loaded = models.BigIntegerField(default=0)
    rcu_consumed = models.FloatField(default=0)
    load_done_notified_at = models.DateTimeField(null=True, blank=True)
    error_notified_at = models.DateTimeField(null=True, blank=True)

    # Where live sync starts: the stream as it was before the initial load began.
    stream_arn = models.CharField(max_length=2048, blank=True)
    stream_start_at = models.DateTimeField(null=True, blank=True)
    stream_last_processed_at = models.DateTimeField(null=True, blank=True)
    stream_last_record_at = models.DateTimeField(
        null=True, blank=True, help_text="ApproximateCreationDateTime of the last record applied."
    )
    shards_discovered_at = models.DateTimeField(null=True, blank=True)
    stream_records_applied = models.BigIntegerField(default=0)
    user_deletes = models.BigIntegerField(default=0)
    ttl_deletes = models.BigIntegerField(default=0)

    # Export using S3: the request (its ClientToken survives a retry), the export, its files' folder.
    pitr_enabled_by_millrace = models.BooleanField(default=False, help_text="Millrace turned on PITR for the export.")
    export_client_token = models.CharField(max_length=64, blank=True)
    export_arn = models.CharField(max_length=2048, blank=True)
    export_checked_at = models.DateTimeField(null=True, blank=True, help_text="Last DescribeExport.")
    export_folder = models.CharField(max_length=1024, blank=True, help_text="S3 folder of the export's manifests.")
    export_deleted_at = models.DateTimeField(null=True, blank=True)

    # Liveness (invariant 8): what keeps the source from moving, as the supervisor last found it.
    stalled = models.TextField(blank=True, help_text="Why no progress is being made, in words; empty when moving.")
    stalled_since = models.DateTimeField(null=True, blank=True)
    poll_error = models.TextField(
        blank=True, help_text="Why the supervisor's last DescribeStream/DescribeExport failed."
    )
    poll_failing_since = models.DateTimeField(null=True, blank=True)

    # Something the user should know that is not an error: e.g. changes were missed and a re-sync started.
    notice = models.TextField(blank=True)
    notice_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.table_name} ({self.region}) → {self.collection}"

    @property
    def key_names(self) -> list[str]:
        hash_first = sorted(self.key_schema, key=lambda k: k["KeyType"] != "HASH")
        return [k["AttributeName"] for k in hash_first]

    @property
    def poll_frequency_seconds(self) -> float:
        return self.poll_frequency_ms / 1000

    @property
    def initial_load_done(self) -> bool:
        return self.load_finished_at is not None

    @property
    def completion_percentage(self) -> float:
        """Rockset's initial_dump_completion_percentage: loaded ÷ expected, 100 only when truly done."""
        if self.initial_load_done:
            return 100.0
        if not self.items_expected:
            return 0.0
        return min(99.0, 100.0 * self.items_loaded / self.items_expected)

    @property
    def load_duration(self) -> str:
        """How long the initial load took (or has taken so far), for people: '16.7 s', '4 min 5 s', '2 h 3 min'."""
        if not self.load_started_at:
            return ""
        seconds = ((self.load_finished_at or timezone.now()) - self.load_started_at).total_seconds()
        if seconds < 60:
            return f"{seconds:.1f} s"
        if seconds < 3600:
            return f"{int(seconds // 60)} min {int(seconds % 60)} s"
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"

    @property
    def state_duration(self) -> str:
        """How long the source has been in its state, for people: '12 s', '3 min 5 s' (timesince says
        '0 minutes' for the sandbox's 20-second export)."""
        if not self.state_changed_at:
            return ""
        return timing.duration((timezone.now() - self.state_changed_at).total_seconds())

    @property
    def load_rcu_per_second(self) -> float:
        if not self.load_started_at:
            return 0.0
        end = self.load_finished_at or timezone.now()
        return self.rcu_consumed / max((end - self.load_started_at).total_seconds(), 1.0)

    @cached_property
    def stall(self) -> tuple[str, datetime | None]:
        """(why the source isn't moving, since when), or ("", None). The supervisor records a stall on the
        row; but it runs in the worker, so a worker that is down or frozen can't record its own: that is
        read here, from the worker's last heartbeat, by whoever looks (page, API, admin)."""
        if self.error or self.suspended_at:
            return "", None
        seen = Heartbeat.last_seen("worker")
        quiet = (timezone.now() - seen).total_seconds() if seen else None
        if quiet is not None and quiet >= timing.STALL_SECONDS:
            return (
                f"No worker has answered for {timing.duration(quiet)} (the supervisor's last tick ran at "
                f"{timezone.localtime(seen):%H:%M:%S}): nothing is read or loaded meanwhile. Is the worker "
                "running, or is the machine overloaded?",
                seen,
            )
        return self.stalled, self.stalled_since

    @property
    def stall_reason(self) -> str:
        return self.stall[0]

    @property
    def stall_since(self) -> datetime | None:
        return self.stall[1]

    @property
    def stream_lag_seconds(self) -> float | None:
        """How far behind the table the collection is, from what was really read (invariant 8): 0 when the
        last GetRecords of every open shard found nothing more and answered within the last
        `timing.CAUGHT_UP_SECONDS`; otherwise now minus the newest applied record's creation time (or the
        oldest last read, when every shard was caught up then). None while paused (nothing is read) and
        before the stream's shards are known."""
        if not self.following_stream:
            return None
        shards = list(self.shards.filter(done=False).values_list("caught_up", "last_read_at"))
        reads = [read for _, read in shards if read]
        figures = lag.Shards(len(shards), sum(c for c, _ in shards), len(reads), min(reads) if reads else None)
        return self.stream_lag_from(figures)

    @property
    def following_stream(self) -> bool:
        """Reading its stream now: the only time a lag figure (and a shard query) means anything."""
        return self.state == self.State.PROCESSING_STREAM and not self.suspended_at

    def stream_lag_from(self, figures: lag.Shards) -> float | None:
        """`stream_lag_seconds` from shard figures read beforehand: a list of collections reads every
        source's figures in one query (`ingest.alerts.shard_figures`) instead of one query each."""
        if not self.following_stream:
            return None
        stalled = bool(figures.open and figures.caught_up == figures.open and self.stall_reason)
        return lag.behind_seconds(figures, self.stream_last_record_at, timezone.now(), stalled=stalled)

    @property
    def stream_lag_display(self) -> str:
        """The lag for people: 'caught up', '4.2 s behind', '3 min 5 s behind'."""
        lag = self.stream_lag_seconds
        if lag is None:
            return ""
        if lag == 0:
            return "caught up"
        if lag < 60:
            return f"{lag:.1f} s behind"
        return f"{timing.duration(lag)} behind"

    @property
    def next_retry_at(self) -> datetime | None:
        """When the supervisor retries a stopped source by itself: after 1, 2, 4 … minutes, then hourly, so
        a permission granted or a bucket created is picked up without anyone pressing Retry."""
        if not self.error or not self.error_at:
            return None
        return self.error_at + min(timedelta(hours=1), timedelta(minutes=2**self.auto_retries))

    def fail(self, message: str) -> None:
        """Stop with a message a person can act on; the engine retries once the cause is fixed."""
        self.error, self.error_at = message, timezone.now()
        self.save(update_fields=["error", "error_at"])

    def set_state(self, state: str, **fields: object) -> None:
        self.state, self.state_changed_at = state, timezone.now()
        for name, value in fields.items():
            setattr(self, name, value)
        self.save(update_fields=["state", "state_changed_at", *fields])


class Document(models.Model):
    """One item of the table, converted to JSON. `doc_id` is derived from the table's primary key."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="documents")
    doc_id = models.CharField(max_length=2048)
    body = models.JSONField(encoder=ExactJSONEncoder, decoder=ExactJSONDecoder)
    size_bytes = models.PositiveIntegerField()
    event_time = models.DateTimeField(help_text="When the last change to this document was applied.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection", "doc_id"], name="document_unique_per_collection")]

    def __str__(self) -> str:
        return self.doc_id
