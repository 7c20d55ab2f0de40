"""Writes for integrations: save from the wizard, re-validate, delete."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from integrations import aws
from integrations.models import Integration
from integrations.validation import essentials_pass, validate


class IntegrationInUse(Exception):
    """Deleting would orphan collections; the message names them."""


def integration_apply_report(*, integration: Integration, report: list[dict[str, Any]]) -> None:
    integration.validation_report = report
    integration.validated_at = timezone.now()
    integration.status = Integration.Status.VALIDATED if essentials_pass(report) else Integration.Status.DRAFT


def integration_save(*, integration: Integration, report: list[dict[str, Any]]) -> Integration:
    """Save an integration from the wizard with the checklist it was validated with, all or nothing."""
    integration_apply_report(integration=integration, report=report)
    with transaction.atomic():
        integration.save()
    aws.forget_cached_session(integration)
    return integration


def integration_revalidate(*, integration: Integration) -> Integration:
    aws.forget_cached_session(integration)
    integration_apply_report(integration=integration, report=validate(integration))
    integration.save(update_fields=["validation_report", "validated_at", "status", "updated_at"])
    return integration


def integration_delete(*, integration: Integration) -> None:
    from collections_app.models import Collection
    from collections_app.services import collections_purge_deleted

    with transaction.atomic():
        # Deleted collections still hold their source rows (which protect the integration) until purged.
        collections_purge_deleted(collections=Collection.objects.filter(sources__integration=integration))
        users = integration.collections_in_use()
        if users:
            names = ", ".join(str(c) for c in users)
            raise IntegrationInUse(
                f"“{integration.name}” is used by {len(users)} collection{'s' if len(users) != 1 else ''}: {names}. "
                f"Delete {'it' if len(users) == 1 else 'them'} first."
            )
        integration.delete()
    aws.forget_cached_session(integration)
