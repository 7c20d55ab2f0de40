"""Workspaces and collections: one collection mirrors one DynamoDB table through one integration."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from console.models import Organisation
from integrations.models import Integration


class Workspace(models.Model):
    """A namespace for collections, as in Rockset; every organisation starts with `commons`."""

    DEFAULT_NAME = "commons"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="workspaces")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "name"], name="workspace_unique_per_org")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Collection(models.Model):
    """A mirror of one DynamoDB table. The ingest engine fills and follows it (later issues)."""

    class Status(models.TextChoices):
        CREATED = "CREATED", "Created"
        READY = "READY", "Ready"
        PAUSED = "PAUSED", "Paused"
        DELETED = "DELETED", "Deleted"

    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="collections")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="collections")
    table_name = models.CharField(max_length=255)
    region = models.CharField(max_length=32)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATED)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="collection_unique_per_workspace")]
        ordering = ["workspace__name", "name"]

    def __str__(self) -> str:
        return f"{self.workspace.name}.{self.name}"
