"""Queries people ran: the editor's history and the API's queries, with their results kept for a while.

A row per query is what Rockset's `GET /queries/{id}` and `/pages` read, what `DELETE` cancels, and the
user's history in the console. The result documents are kept in runs of rows (exact JSON text each), so a
page is read by position and a large result is never loaded whole.
"""

from __future__ import annotations

import uuid
import zlib
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from collections_app.models import Collection, Workspace
from console.models import Organisation, OrganisationQuerySet

RESULT_CHUNK = 1000  # documents a QueryResult row holds


def results_kept() -> timedelta:
    """How long a finished query's results stay readable (Rockset's `expires_at`)."""
    return timedelta(seconds=settings.MILLRACE_QUERY_RESULTS_SECONDS)


class Query(models.Model):
    """One query: who ran it where, its SQL and parameters, its state, and what it returned."""

    class Status(models.TextChoices):
        QUEUED = "QUEUED"
        RUNNING = "RUNNING"
        COMPLETED = "COMPLETED"
        ERROR = "ERROR"
        CANCELLED = "CANCELLED"

    class Via(models.TextChoices):
        CONSOLE = "console"
        API = "api"

    UNFINISHED = (Status.QUEUED, Status.RUNNING)

    query_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="queries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="queries")
    via = models.CharField(max_length=10, choices=Via.choices)
    sql = models.TextField()
    parameters = models.JSONField(default=list, blank=True)
    default_row_limit = models.PositiveIntegerField(null=True, blank=True)
    timeout_ms = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    submitted_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    elapsed_ms = models.PositiveIntegerField(null=True, blank=True)
    row_count = models.PositiveIntegerField(null=True, blank=True)
    collections = models.JSONField(default=list, blank=True)
    column_fields = models.JSONField(default=list, blank=True)
    error_type = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    error_line = models.PositiveIntegerField(null=True, blank=True)
    error_column = models.PositiveIntegerField(null=True, blank=True)
    # PostgreSQL: the server process running the statement, for DELETE's pg_cancel_backend.
    backend_pid = models.PositiveIntegerField(null=True, blank=True)
    # A Query Lambda's kept execution (async, paginated): its failure on a worker is the lambda's last error.
    query_lambda = models.ForeignKey(
        "QueryLambda", null=True, blank=True, on_delete=models.SET_NULL, related_name="executions_kept"
    )

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "queries"
        indexes = [models.Index(fields=["organisation", "user", "-submitted_at"], name="query_history")]

    def __str__(self) -> str:
        return str(self.query_id)

    @property
    def finished(self) -> bool:
        return self.status not in self.UNFINISHED

    @property
    def results_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class QueryResult(models.Model):
    """A run of a query's result documents from `position` (0-based) on, as JSON lines with their exact
    text, zlib-compressed: a row holds up to RESULT_CHUNK documents, so keeping a large result is a hundred
    small inserts, not one per document (the drivers bind a long text slowly; the compressed bytes are a
    tenth of it), and a page is read from one or two rows."""

    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="result_rows")
    position = models.PositiveIntegerField()
    documents = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["query", "position"], name="query_result_position")]

    def __str__(self) -> str:
        return f"{self.query_id}#{self.position}"

    @classmethod
    def of(cls, query: Query, position: int, texts: list[str]) -> QueryResult:
        return cls(query=query, position=position, documents=zlib.compress("\n".join(texts).encode(), 1))

    def texts(self) -> list[str]:
        """One JSON text a document (the writer escapes newlines inside strings, so lines split exactly)."""
        return zlib.decompress(self.documents).decode().split("\n")


# Saved SQL in a workspace: Query Lambdas (versioned, tagged), Views, Aliases. They share a workspace's names
# with its collections, as in Rockset, so `commons.x` means one thing in any query.


class InWorkspaceQuerySet(OrganisationQuerySet):
    """A row reaches its organisation through its workspace."""

    organisation_path = "workspace__organisation"


class QueryLambda(models.Model):
    """A named, parameterised query that applications call by tag or version; its usage is counted here,
    on one row, so the lambda's page and `stats` read it without scanning the query history."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="query_lambdas")
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.CharField(max_length=254, blank=True)
    executions = models.PositiveBigIntegerField(default=0)
    last_executed_at = models.DateTimeField(null=True, blank=True)
    last_executed_by = models.CharField(max_length=254, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error_message = models.TextField(blank=True)

    objects = InWorkspaceQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="query_lambda_unique_per_workspace")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.workspace.name}.{self.name}"


class QueryLambdaVersion(models.Model):
    """One immutable version: its SQL and default parameters never change once written (an update is a new
    version), so code pinned to a version always runs the same query. `version` is a short hash, as
    Rockset's were; `number` orders them."""

    class State(models.TextChoices):
        ACTIVE = "ACTIVE"
        INVALID_SQL = "INVALID_SQL"

    query_lambda = models.ForeignKey(QueryLambda, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=16)
    number = models.PositiveIntegerField()
    sql = models.TextField()
    default_parameters = models.JSONField(default=list, blank=True)
    description = models.CharField(max_length=1000, blank=True)
    is_public = models.BooleanField(default=False)
    public_access_id = models.CharField(max_length=64, blank=True)
    collections = models.JSONField(default=list, blank=True)  # what the SQL read when it was saved
    state = models.CharField(max_length=12, choices=State.choices, default=State.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=254, blank=True)
    created_by_apikey_name = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["query_lambda", "version"], name="query_lambda_version_unique"),
            models.UniqueConstraint(fields=["query_lambda", "number"], name="query_lambda_version_number_unique"),
        ]
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.query_lambda}:{self.version}"


class QueryLambdaTag(models.Model):
    """A name that points at one version; moving it is one row update, so callers by tag switch at once."""

    LATEST = "latest"  # kept by Millrace: the newest version

    query_lambda = models.ForeignKey(QueryLambda, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=100)
    version = models.ForeignKey(QueryLambdaVersion, on_delete=models.CASCADE, related_name="tags")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["query_lambda", "name"], name="query_lambda_tag_unique")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.query_lambda}@{self.name}"


class View(models.Model):
    """A named SELECT, read wherever a collection name is: inlined into the query as a derived table, so
    it is always as fresh as its collections. `entities` (what it names) is kept to refuse cycles and the
    deletion of what it depends on."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="views")
    name = models.CharField(max_length=100)
    query = models.TextField()
    description = models.CharField(max_length=1000, blank=True)
    entities = models.JSONField(default=list, blank=True)  # "workspace.name" of each collection, view, alias
    created_at = models.DateTimeField(default=timezone.now)
    modified_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=254, blank=True)
    created_by_apikey_name = models.CharField(max_length=100, blank=True)

    objects = InWorkspaceQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="view_unique_per_workspace")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.workspace.name}.{self.name}"


class Alias(models.Model):
    """A name for one collection. A query resolves it once, to a collection id bound into its SQL, so
    switching it (one row update) gives each query the old collection or the new one, never a mix."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="aliases")
    name = models.CharField(max_length=100)
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="aliases")
    pending = models.ForeignKey(
        Collection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Switched to once it is READY: queries never read a collection still loading.",
    )  # fmt: skip
    description = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    modified_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=254, blank=True)
    created_by_apikey_name = models.CharField(max_length=100, blank=True)

    objects = InWorkspaceQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "aliases"
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="alias_unique_per_workspace")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.workspace.name}.{self.name}"
