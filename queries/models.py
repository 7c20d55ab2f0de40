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
