"""Values every page shows: the sandbox banner, the user's organisation and role, and their other ones."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest

from console.models import Membership
from console.services import request_membership
from ingest.health import export_wait


def millrace(request: HttpRequest) -> dict[str, Any]:
    """The layout hides what the role can't do (the access rules refuse it anyway)."""
    membership = None
    memberships: list[Membership] = []
    if getattr(request, "user", None) is not None and request.user.is_authenticated:
        try:
            membership = request_membership(request)
        except Http404:
            membership = None
        else:
            memberships = list(Membership.objects.filter(user=request.user).select_related("organisation"))
    return {
        "sandbox_endpoint": settings.MILLRACE_AWS_ENDPOINT_URL,
        "export_wait": export_wait(),  # the sandbox's export takes seconds, DynamoDB's minutes
        "current_organisation": membership.organisation if membership else None,
        "current_membership": membership,
        "can_write": bool(membership and membership.can_write),
        "my_memberships": memberships if len(memberships) > 1 else [],
    }
