"""Console pages: first run, dashboard, organisation, API keys, health."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from collections_app.models import Collection
from console.forms import ApiKeyForm, FirstAdminForm, NotificationEmailsForm
from console.models import ApiKey, Heartbeat, Membership
from console.services import (
    ApiKeyNameTaken,
    api_key_create,
    first_admin_create,
    request_organisation,
    setup_token,
)
from integrations.models import Integration

log = logging.getLogger(__name__)
WORKER_STALE_AFTER = timedelta(seconds=90)  # a tick may wait behind a 30 s work slice


def first_run(request: HttpRequest) -> HttpResponse:
    """Create the first admin account. Gone for good once any user exists."""
    if get_user_model().objects.exists():
        raise Http404("This install already has an admin account.")
    form = FirstAdminForm(request.POST or None, initial={"setup_token": request.GET.get("token", "")})
    if request.method != "POST":
        # The log is where the operator of a public install finds it; a visitor can't read it.
        log.warning("First run: the set-up page (%s) asks for this setup token: %s", request.path, setup_token())
    if request.method == "POST" and form.is_valid():
        user = first_admin_create(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
            organisation_name=form.cleaned_data["organisation_name"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, "Welcome to Millrace. Start by creating an integration.")
        return redirect("dashboard")
    return render(request, "console/first_run.html", {"form": form})


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    organisation = request_organisation(request)
    heartbeat = Heartbeat.objects.filter(name="worker").first()
    context = {
        "integration_count": Integration.objects.for_organisation(organisation).count(),
        "validated_count": Integration.objects.for_organisation(organisation)
        .filter(status=Integration.Status.VALIDATED)
        .count(),
        "collection_count": Collection.objects.filter(workspace__organisation=organisation).count(),
        "heartbeat": heartbeat,
        "worker_alive": bool(heartbeat and timezone.now() - heartbeat.seen_at < WORKER_STALE_AFTER),
    }
    return render(request, "console/dashboard.html", context)


@login_required
def organisation_detail(request: HttpRequest) -> HttpResponse:
    organisation = request_organisation(request)
    is_admin = organisation.memberships.filter(user=request.user, role=Membership.Role.ADMIN).exists()
    form = NotificationEmailsForm(request.POST or None, instance=organisation)
    if request.method == "POST" and is_admin and form.is_valid():
        form.save()
        messages.success(request, "Saved the notification addresses.")
        return redirect("organisation")
    memberships = organisation.memberships.select_related("user").order_by("user__username")
    context = {"organisation": organisation, "memberships": memberships, "form": form, "is_admin": is_admin}
    return render(request, "console/organisation.html", context)


@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    organisation = request_organisation(request)
    form = ApiKeyForm(request.POST or None, user=request.user)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            _, new_key = api_key_create(user=request.user, organisation=organisation, name=form.cleaned_data["name"])
        except ApiKeyNameTaken as exc:  # created by a request at the same moment
            form.add_error("name", str(exc))
        else:
            form = ApiKeyForm(user=request.user)
    keys = ApiKey.objects.filter(user=request.user, organisation=organisation)
    context = {"form": form, "keys": keys, "new_key": new_key, "base_url": settings.MILLRACE_BASE_URL}
    response = render(request, "console/api_keys.html", context)
    if new_key:
        response["Cache-Control"] = "no-store"  # the page shows the key once; don't keep it in caches
    return response


@login_required
@require_POST
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey.objects.active(), pk=pk, user=request.user)
    key.revoke()
    messages.success(request, f"Revoked API key “{key.name}”. It can't be used again.")
    return redirect("api_keys")


@login_required
def api_docs(request: HttpRequest) -> HttpResponse:
    """The REST API's page: a curl example for this server and the OpenAPI document it serves."""
    from api.openapi import openapi_document

    base_url = request.build_absolute_uri("/").rstrip("/")
    document = openapi_document(base_url)
    operations = [
        (method.upper(), path, spec["summary"])
        for path, item in document["paths"].items()
        for method, spec in item.items()
    ]
    context = {"base_url": base_url, "operations": operations, "document": json.dumps(document, indent=2)}
    return render(request, "console/api_docs.html", context)


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})
