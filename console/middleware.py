"""Send every visitor of a fresh install to the page that creates the first admin account."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

EXEMPT_PREFIXES = ("/setup/", "/static/", "/healthz", "/v1/")


class FirstRunMiddleware:
    """No default password anywhere: until a user exists, the only page is the set-up page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.has_users = False  # cached once true: users are never all deleted on a live install

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self.has_users and not request.path.startswith(EXEMPT_PREFIXES):
            self.has_users = get_user_model().objects.exists()
            if not self.has_users:
                return redirect("first_run")
        return self.get_response(request)
