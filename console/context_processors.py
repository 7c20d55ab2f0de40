"""Values every page shows: the sandbox banner and the user's organisation."""

from __future__ import annotations

import contextlib
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest

from console.services import request_organisation


def millrace(request: HttpRequest) -> dict[str, Any]:
    organisation = None
    if getattr(request, "user", None) is not None and request.user.is_authenticated:
        with contextlib.suppress(Http404):
            organisation = request_organisation(request)
    return {
        "sandbox_endpoint": settings.MILLRACE_AWS_ENDPOINT_URL,
        "current_organisation": organisation,
    }
