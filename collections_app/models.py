"""Workspaces, collections and their DynamoDB sources (one table each)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from console.models import Organisation
from integrations.models import Integration


class Workspace(models.Model):
    """A namespace for collections, as in Rockset; `commons` is every organisation's default."""

    DEFAULT_NAME = "commons"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="workspaces")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "name"], name="workspace_unique_per_org")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CollectionQuerySet(models.QuerySet):
    def for_organisation(self, organisation: Organisation) -> CollectionQuerySet:
        return self.filter(workspace__organisation=organisation).exclude(status=Collection.Status.DELETED)


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
    suspended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.table_name} ({self.region}) → {self.collection}"

    @property
    def key_names(self) -> list[str]:
        hash_first = sorted(self.key_schema, key=lambda k: k["KeyType"] != "HASH")
        return [k["AttributeName"] for k in hash_first]

    @property
    def poll_frequency_seconds(self) -> float:
        return self.poll_frequency_ms / 1000
