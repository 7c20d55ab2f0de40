"""Console pages: first run, dashboard, organisation (members, invitations), API keys, health.

Who may open each page is decided before it runs (console.access); views here reach objects only
through `scoped_object_or_404` and the organisation it found.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from collections_app.models import Collection
from console import help
from console.access import scoped_object_or_404
from console.forms import (
    ApiKeyForm,
    FirstAdminForm,
    InvitationAcceptForm,
    InvitationForm,
    MembershipRoleForm,
    NotificationEmailsForm,
)
from console.models import ApiKey, Heartbeat, Invitation, Membership, Organisation
from console.services import (
    ApiKeyNameTaken,
    LastAdminError,
    api_key_create,
    first_admin_create,
    invitation_accept,
    invitation_accept_new_user,
    invitation_create,
    invitation_for_token,
    membership_remove,
    membership_role_change,
    organisation_switch,
    setup_token,
)
from ingest import health, timing
from integrations.models import Integration

log = logging.getLogger(__name__)


def worker_state(seen_at: datetime | None) -> str:
    """running | slow | stopped | unseen, from the supervisor tick's last heartbeat. "stopped" at the same
    bound as a collection's stall (timing.STALL_SECONDS), so the overview and the collections agree."""
    if seen_at is None:
        return "unseen"
    quiet = (timezone.now() - seen_at).total_seconds()
    if quiet >= timing.STALL_SECONDS:
        return "stopped"
    return "running" if quiet < max(15.0, 3 * timing.tick()) else "slow"


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


def collection_health_counts(organisation: Organisation) -> dict[str, int]:
    """The overview's collection figures, from the same mapping as every badge (deleted ones never count)."""
    collections = Collection.objects.for_organisation(organisation).prefetch_related("sources")
    colours = [h.colour for _, _, h in health.healths(collections)]
    return {
        "collection_count": len(colours),
        "troubled_count": colours.count(health.BAD),
        "live_count": colours.count(health.OK),
        "loading_count": colours.count(health.WARN),
        "paused_count": colours.count(health.IDLE),
    }


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    organisation = request.organisation
    heartbeat = Heartbeat.objects.filter(name="worker").first()
    context = {
        "integration_count": Integration.objects.for_organisation(organisation).count(),
        "validated_count": Integration.objects.for_organisation(organisation)
        .filter(status=Integration.Status.VALIDATED)
        .count(),
        **collection_health_counts(organisation),
        "heartbeat": heartbeat,
        "worker_state": worker_state(heartbeat.seen_at if heartbeat else None),
    }
    return render(request, "console/dashboard.html", context)


@login_required
def organisation_detail(request: HttpRequest) -> HttpResponse:
    """Members, pending invitations and notification addresses; only admins see the forms that change them."""
    form = NotificationEmailsForm(request.POST or None, instance=request.organisation)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Saved the notification addresses.")
        return redirect("organisation")
    return _organisation_page(request, form=form)


def _organisation_page(
    request: HttpRequest, *, form: NotificationEmailsForm | None = None, invite_form: InvitationForm | None = None
) -> HttpResponse:
    organisation = request.organisation
    is_admin = request.membership.is_admin
    memberships = Membership.objects.for_organisation(organisation).select_related("user").order_by("user__username")
    invitations = Invitation.objects.for_organisation(organisation).pending().select_related("invited_by")
    context = {
        "organisation": organisation,
        "memberships": memberships,
        "invitations": invitations if is_admin else [],
        "form": form or NotificationEmailsForm(instance=organisation),
        "invite_form": invite_form or InvitationForm(organisation=organisation),
        "roles": Membership.Role.choices,
        "is_admin": is_admin,
        "admin_count": sum(1 for m in memberships if m.role == Membership.Role.ADMIN),
    }
    return render(request, "console/organisation.html", context)


@login_required
@require_POST
def organisation_invite(request: HttpRequest) -> HttpResponse:
    organisation = request.organisation
    form = InvitationForm(request.POST, organisation=organisation)
    if not form.is_valid():
        return _organisation_page(request, invite_form=form)
    invitation = invitation_create(
        organisation=organisation,
        email=form.cleaned_data["email"],
        role=form.cleaned_data["role"],
        invited_by=request.user,
    )
    messages.success(
        request, f"Invited {invitation.email} as {invitation.get_role_display().lower()}; the link works for 7 days."
    )
    return redirect("organisation")


@login_required
@require_POST
def organisation_invitation_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = scoped_object_or_404(request, Invitation.objects.pending(), pk=pk)
    invitation.delete()
    messages.success(request, f"Withdrew the invitation for {invitation.email}; its link no longer works.")
    return redirect("organisation")


@login_required
@require_POST
def organisation_member_role(request: HttpRequest, pk: int) -> HttpResponse:
    membership = scoped_object_or_404(request, Membership.objects.select_related("user"), pk=pk)
    form = MembershipRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose admin, member or read-only.")
        return redirect("organisation")
    try:
        membership_role_change(membership=membership, role=form.cleaned_data["role"])
    except LastAdminError as error:
        messages.error(request, str(error))
    else:
        name = membership.user.get_username()
        messages.success(request, f"{name} is now {membership.get_role_display().lower()}.")
    return redirect("organisation")


@login_required
@require_POST
def organisation_member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    membership = scoped_object_or_404(request, Membership.objects.select_related("user"), pk=pk)
    try:
        membership_remove(membership=membership)
    except LastAdminError as error:
        messages.error(request, str(error))
        return redirect("organisation")
    name = membership.user.get_username()
    messages.success(request, f"Removed {name} from {request.organisation.name}; their API keys here are revoked.")
    if membership.user_id == request.user.pk:
        return redirect("dashboard")
    return redirect("organisation")


@login_required
@require_POST
def organisation_switch_view(request: HttpRequest) -> HttpResponse:
    try:
        organisation_id = int(request.POST.get("organisation", ""))
    except ValueError:
        raise Http404("No such organisation.") from None
    membership = organisation_switch(request=request, organisation_id=organisation_id)
    messages.success(request, f"You are working in {membership.organisation.name}.")
    return redirect("dashboard")


def invitation_accept_view(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: a signed-in person joins; a new person creates their account with the invited
    address; someone who has an account with that address signs in first."""
    invitation = invitation_for_token(token)
    context: dict[str, object] = {"invitation": invitation}
    if request.user.is_authenticated:
        if (request.user.email or "").lower() != invitation.email.lower():
            # The invitation names a person by address: a forwarded link mustn't let another account in.
            context["wrong_account"] = True
            return render(request, "console/invitation.html", context)
        if request.method == "POST":
            invitation_accept(invitation=invitation, user=request.user)
            organisation_switch(request=request, organisation_id=invitation.organisation_id)
            messages.success(request, f"Welcome to {invitation.organisation.name}.")
            return redirect("dashboard")
        return render(request, "console/invitation.html", context)
    if get_user_model().objects.filter(email__iexact=invitation.email).exists():
        if request.method == "POST":
            return redirect_to_login(request.get_full_path())
        context["has_account"] = True
        return render(request, "console/invitation.html", context)
    form = InvitationAcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = invitation_accept_new_user(
            invitation=invitation, username=form.cleaned_data["username"], password=form.cleaned_data["password1"]
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        organisation_switch(request=request, organisation_id=invitation.organisation_id)
        messages.success(request, f"Welcome to {invitation.organisation.name}.")
        return redirect("dashboard")
    context["form"] = form
    return render(request, "console/invitation.html", context)


@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    """Your own keys; an admin also sees (and may revoke) the other members' keys in the organisation."""
    organisation = request.organisation
    form = ApiKeyForm(request.POST or None, user=request.user)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            _, new_key = api_key_create(user=request.user, organisation=organisation, name=form.cleaned_data["name"])
        except ApiKeyNameTaken as exc:  # created by a request at the same moment
            form.add_error("name", str(exc))
        else:
            form = ApiKeyForm(user=request.user)
    keys = ApiKey.objects.for_organisation(organisation).select_related("user")
    others = keys.active().exclude(user=request.user) if request.membership.is_admin else ApiKey.objects.none()
    context = {
        "form": form,
        "keys": keys.filter(user=request.user),
        "others": others,
        "new_key": new_key,
        "base_url": settings.MILLRACE_BASE_URL,
    }
    response = render(request, "console/api_keys.html", context)
    if new_key:
        response["Cache-Control"] = "no-store"  # the page shows the key once; don't keep it in caches
    return response


@login_required
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks (a page that works without JavaScript), POST revokes."""
    key = scoped_object_or_404(request, ApiKey.objects.all(), pk=pk)
    if key.user_id != request.user.pk and not request.membership.is_admin:
        raise PermissionDenied("Only an admin of the organisation can revoke someone else's API key.")
    if not key.is_active:  # a page opened before it was revoked (another tab, another admin)
        messages.info(request, f"API key “{key.name}” was already revoked.")
        return redirect("api_keys")
    if request.method != "POST":
        owner = "your" if key.user_id == request.user.pk else f"{key.user.get_username()}'s"
        context = {
            "question": f"Revoke {owner} API key “{key.name}”?",
            "explanation": f"Scripts using the key ending in …{key.last_four} get 401 Unauthorized from then on. "
            "This can't be undone: create a new key for them instead.",
            "button": "Revoke key",
            "action": request.path,
            "cancel": reverse("api_keys"),
        }
        return render(request, "confirm.html", context)
    key.revoke()
    messages.success(request, f"Revoked API key “{key.name}”. It can't be used again.")
    return redirect("api_keys")


def help_index(request: HttpRequest) -> HttpResponse:
    return render(request, "console/help.html", {"sections": list(help.sections().values()), "section": None})


def help_section(request: HttpRequest, section: str) -> HttpResponse:
    found = help.sections().get(section)
    if found is None:
        raise Http404("There is no such help page.")
    return render(request, "console/help.html", {"sections": list(help.sections().values()), "section": found})


def backticks_as_code(text: str) -> SafeString:
    """The OpenAPI summaries mark names with backticks (Markdown, for API tools); on the page they are code."""
    parts = text.split("`")
    return mark_safe("".join(escape(p) if i % 2 == 0 else f"<code>{escape(p)}</code>" for i, p in enumerate(parts)))  # noqa: S308


@login_required
def api_docs(request: HttpRequest) -> HttpResponse:
    """The REST API's page: a curl example for this server and the OpenAPI document it serves."""
    from api.openapi import openapi_document

    base_url = request.build_absolute_uri("/").rstrip("/")
    document = openapi_document(base_url)
    operations = [
        (method.upper(), path, backticks_as_code(spec["summary"]))
        for path, item in document["paths"].items()
        for method, spec in item.items()
    ]
    context = {"base_url": base_url, "operations": operations, "document": json.dumps(document, indent=2)}
    return render(request, "console/api_docs.html", context)


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})
