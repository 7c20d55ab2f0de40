"""Emails a person acts on: the initial load is done; a collection stopped with an error; changes were
missed and a re-sync began. Each is sent once per event, whoever calls first (a row update decides)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from collections_app.models import Source

RELATED = ("collection__workspace__organisation", "collection__created_by", "integration")


def _recipients(source: Source) -> list[str]:
    """The collection's creator and the organisation's notification addresses, each once."""
    creator = source.collection.created_by
    addresses = [creator.email] if creator and creator.email else []
    addresses += source.collection.workspace.organisation.notification_addresses
    return list(dict.fromkeys(addresses))


def _send(source: Source, template: str, subject: str, extra: dict | None = None) -> None:
    collection = source.collection
    context = {
        "source": source,
        "collection": collection,
        "url": settings.MILLRACE_BASE_URL.rstrip("/")
        + reverse("collection_detail", args=[collection.workspace.name, collection.name]),
        **(extra or {}),
    }
    recipients = _recipients(source)
    if not recipients:
        return
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"emails/{template}.txt", context),
        to=recipients,
    )
    message.attach_alternative(render_to_string(f"emails/{template}.html", context), "text/html")
    message.send()


def load_done(source_id: int) -> None:
    if not Source.objects.filter(pk=source_id, load_done_notified_at__isnull=True).update(
        load_done_notified_at=timezone.now()
    ):
        return
    source = Source.objects.select_related(*RELATED).get(pk=source_id)
    _send(
        source,
        "load_done",
        f"Millrace: the initial load of {source.collection} is done",
        {"documents": source.collection.doc_count},
    )


def source_failed(source_id: int) -> None:
    """One email per error: a new error (error_at later than the last email) sends again, but the same
    trouble met again by an automatic retry doesn't."""
    source = Source.objects.select_related(*RELATED).get(pk=source_id)
    if not source.error or (source.error_notified_at and source.error_notified_at >= source.error_at):
        return
    if source.auto_retries:
        return
    if not Source.objects.filter(pk=source_id, error_notified_at=source.error_notified_at).update(
        error_notified_at=timezone.now()
    ):
        return
    _send(source, "source_failed", f"Millrace: {source.collection} stopped with an error")


def changes_missed(source_id: int) -> None:
    """Sent by the re-sync that the gap started; its notice_at marks the event."""
    source = Source.objects.select_related(*RELATED).get(pk=source_id)
    if source.notice:
        _send(source, "changes_missed", f"Millrace: {source.collection} missed changes and is loading again")


def lag_alert(source_id: int, reason: str) -> None:
    """Sent by the tick that raised the alert (ingest/alerts.py decides once)."""
    source = Source.objects.select_related(*RELATED).get(pk=source_id)
    _send(source, "lag_alert", f"Millrace: {source.collection} is behind its table", {"reason": reason})


def lag_recovered(source_id: int, lasted: str) -> None:
    source = Source.objects.select_related(*RELATED).get(pk=source_id)
    _send(source, "lag_recovered", f"Millrace: {source.collection} has caught up again", {"lasted": lasted})
