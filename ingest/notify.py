"""Emails a person acts on: the initial load is done; a collection stopped with an error. Each is sent
once per event, whoever calls first (a row update decides)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from collections_app.models import Source


def _recipients(source: Source) -> list[str]:
    creator = source.collection.created_by
    return [creator.email] if creator and creator.email else []


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
    source = Source.objects.select_related("collection__workspace", "collection__created_by").get(pk=source_id)
    _send(
        source,
        "load_done",
        f"Millrace: the initial load of {source.collection} is done",
        {"documents": source.collection.doc_count},
    )


def stop(source: Source, message: str) -> None:
    """Put the source in error with a message a person can act on, and tell its owner."""
    source.fail(message)
    source_failed(source.pk)


def source_failed(source_id: int) -> None:
    """One email per error: a new error (error_at later than the last email) sends again."""
    source = Source.objects.select_related("collection__workspace", "collection__created_by").get(pk=source_id)
    if not source.error or (source.error_notified_at and source.error_notified_at >= source.error_at):
        return
    if not Source.objects.filter(pk=source_id, error_notified_at=source.error_notified_at).update(
        error_notified_at=timezone.now()
    ):
        return
    _send(source, "source_failed", f"Millrace: {source.collection} stopped with an error")
