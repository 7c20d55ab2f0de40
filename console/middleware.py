"""Requests refused before any view: a malformed Content-Length, and every page of a fresh install but
the one that creates the first account."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect

EXEMPT_PREFIXES = ("/setup/", "/static/", "/healthz", "/readyz", "/metrics", "/v1/")


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


class ContentLengthMiddleware:
    """Django parses Content-Length with int() when a view reads the body (CSRF reads every POST's), so
    `Content-Length: abc` would be a 500. It is the client's mistake: a 400. (/v1/ is answered in
    Rockset's body by api.errors.ApiErrorMiddleware, which sits before this one.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not (length.isascii() and length.isdigit()):  # "²" is a digit to isdigit(), not to int()
            message = "The Content-Length header must be a number of bytes."
            return HttpResponseBadRequest(message, content_type="text/plain")
        return self.get_response(request)


def client_address(request: HttpRequest) -> str:
    """The address a failed login is counted against (django-axes). Behind a TLS proxy
    (MILLRACE_BEHIND_PROXY) it is the last X-Forwarded-For entry, the one the proxy itself added: earlier
    entries are whatever the client claimed, and trusting them would let one rotate addresses at will."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.MILLRACE_BEHIND_PROXY and forwarded.strip():
        return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")
