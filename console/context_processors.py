"""Values every page shows: the sandbox banner and the user's organisation."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from console.models import Membership


def millrace(request: HttpRequest) -> dict[str, Any]:
    organisation = None
    if getattr(request, "user", None) is not None and request.user.is_authenticated:
        membership = (
            Membership.objects.filter(user=request.user).select_related("organisation").order_by("created_at").first()
        )
        organisation = membership.organisation if membership else None
    return {
        "sandbox_endpoint": settings.MILLRACE_AWS_ENDPOINT_URL,
        "current_organisation": organisation,
    }
