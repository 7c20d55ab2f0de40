"""Writes for accounts: the operator, organisations and their members, invitations, and API keys."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from console.models import ApiKey, Invitation, Membership, Organisation, hash_api_key

User = get_user_model()

INVITATION_LIFETIME = timedelta(days=7)
SESSION_ORGANISATION = "organisation_id"


class LastAdminError(Exception):
    """The change would leave an organisation with nobody who can manage its members."""


def setup_token() -> str:
    """The one-time token the first-run page asks for, so that the first visitor of a fresh public install
    can't make themselves its operator: only who can read the server's log (where the page prints it) or
    `make run`'s output can. Derived from SECRET_KEY, so every web process and machine agrees on it with
    nothing stored; it stops mattering once the first account exists (the page is gone then)."""
    return salted_hmac("millrace.first-run", "setup-token", algorithm="sha256").hexdigest()[:24]


@transaction.atomic
def first_admin_create(*, username: str, email: str, password: str, organisation_name: str) -> AbstractBaseUser:
    """Create the installation's operator (a superuser, the only kind that reaches /admin/), who is also
    the admin of a new organisation, so the console works for them from the first page."""
    user = User.objects.create_superuser(username=username, email=email, password=password)
    organisation = Organisation.objects.create(name=organisation_name)
    Membership.objects.create(organisation=organisation, user=user, role=Membership.Role.ADMIN)
    return user


@transaction.atomic
def organisation_admin_create(*, username: str, email: str, password: str, organisation_name: str) -> AbstractBaseUser:
    """Create a new organisation and its admin: an ordinary account, not an operator, because managing one
    organisation must never open the installation's admin site (where every organisation's rows are)."""
    user = User.objects.create_user(username=username, email=email, password=password)
    organisation = Organisation.objects.create(name=organisation_name)
    Membership.objects.create(organisation=organisation, user=user, role=Membership.Role.ADMIN)
    return user


class ApiKeyNameTaken(Exception):
    """The user already has a key of that name (names of revoked keys stay taken)."""


def api_key_create(*, user: AbstractBaseUser, organisation: Organisation, name: str) -> tuple[ApiKey, str]:
    """Return the new key row and the key itself, which is never stored and can't be shown again. The
    forms check the name first; two requests at once both pass that check, and the unique constraint
    decides: the loser gets ApiKeyNameTaken, not a 500."""
    key = ApiKey.KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            row = ApiKey.objects.create(
                user=user, organisation=organisation, name=name, key_hash=hash_api_key(key), last_four=key[-4:]
            )
    except IntegrityError as exc:
        raise ApiKeyNameTaken(f"You already have an API key named “{name}”.") from exc
    return row, key


# Which organisation a signed-in user works in ------------------------------------------------------------


def membership_for(user: AbstractBaseUser, organisation_id: int | None = None) -> Membership | None:
    """The user's membership in the organisation they chose (`organisation_id`), else their first one."""
    memberships = Membership.objects.filter(user=user).select_related("organisation").order_by("created_at")
    if organisation_id is not None:
        chosen = memberships.filter(organisation_id=organisation_id).first()
        if chosen is not None:
            return chosen
    return memberships.first()


def request_membership(request: HttpRequest) -> Membership:
    """The signed-in user's membership for this request (looked up once: pages and the layout both need
    it); 404 when they belong to no organisation."""
    if not hasattr(request, "_membership"):
        request._membership = membership_for(request.user, request.session.get(SESSION_ORGANISATION))
    if request._membership is None:
        raise Http404("You are not a member of any organisation. Ask an admin of one to invite you.")
    return request._membership


def request_organisation(request: HttpRequest) -> Organisation:
    return request_membership(request).organisation


def organisation_switch(*, request: HttpRequest, organisation_id: int) -> Membership:
    """Work in another of the user's organisations from now on (kept in the session); 404 if not theirs."""
    membership = Membership.objects.filter(user=request.user, organisation_id=organisation_id).first()
    if membership is None:
        raise Http404("You are not a member of that organisation.")
    request.session[SESSION_ORGANISATION] = membership.organisation_id
    request._membership = membership
    return membership


# Members and invitations -------------------------------------------------------------------------------


def _admins_left_without(membership: Membership) -> int:
    """How many other admins the organisation has; locks the admins' rows (on PostgreSQL) so that two
    admins demoting each other at the same moment can't both succeed."""
    admins = Membership.objects.for_organisation(membership.organisation).filter(role=Membership.Role.ADMIN)
    return len([m for m in admins.select_for_update() if m.pk != membership.pk])


@transaction.atomic
def membership_role_change(*, membership: Membership, role: str) -> Membership:
    """Refuse to demote the last admin: an organisation nobody can manage can't be repaired from the console."""
    if membership.is_admin and role != Membership.Role.ADMIN and not _admins_left_without(membership):
        raise LastAdminError(f"{membership.user.get_username()} is the last admin; make someone else admin first.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """Remove a member and revoke their keys in this organisation, so that being invited back later
    doesn't bring old keys (perhaps long leaked) back to life."""
    if membership.is_admin and not _admins_left_without(membership):
        raise LastAdminError(f"{membership.user.get_username()} is the last admin; make someone else admin first.")
    ApiKey.objects.for_organisation(membership.organisation).active().filter(user=membership.user_id).update(
        revoked_at=timezone.now()
    )
    membership.delete()


@transaction.atomic
def invitation_create(*, organisation: Organisation, email: str, role: str, invited_by: AbstractBaseUser) -> Invitation:
    """Save the invitation and email its link; the token is in the link only (its hash is stored). The link
    starts with MILLRACE_BASE_URL, like every email's, never with the request's Host header (which a
    client chooses). If the email can't be sent, nothing is saved."""
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organisation=organisation,
        email=email,
        role=role,
        invited_by=invited_by,
        token_hash=hash_api_key(token),
        expires_at=timezone.now() + INVITATION_LIFETIME,
    )
    context = {
        "invitation": invitation,
        "inviter": invited_by.get_username(),
        "link": settings.MILLRACE_BASE_URL.rstrip("/") + reverse("invitation_accept", args=[token]),
        "days": INVITATION_LIFETIME.days,
    }
    send_mail(
        subject=f"You're invited to {' '.join(organisation.name.split())} on Millrace",  # one header line
        message=render_to_string("emails/invitation.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[email],
    )
    return invitation


def invitation_for_token(token: str) -> Invitation:
    """The pending invitation a link names; 404 when it is unknown, used or expired (all look alike)."""
    invitation = (
        Invitation.objects.pending().select_related("organisation").filter(token_hash=hash_api_key(token)).first()
    )
    if invitation is None:
        raise Http404("This invitation link is not valid any more: it was used, withdrawn, or has expired.")
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: AbstractBaseUser) -> Membership:
    """Add the user to the organisation with the invited role (an existing membership keeps its role),
    and use up the invitation so the link can't add anyone else."""
    used = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).update(accepted_at=timezone.now())
    if not used:
        raise Http404("This invitation was already used.")
    membership, _ = Membership.objects.get_or_create(
        organisation=invitation.organisation, user=user, defaults={"role": invitation.role}
    )
    return membership


@transaction.atomic
def invitation_accept_new_user(*, invitation: Invitation, username: str, password: str) -> AbstractBaseUser:
    """Create the invited person's account (with the invited address) and accept the invitation for it."""
    user = User.objects.create_user(username=username, email=invitation.email, password=password)
    invitation_accept(invitation=invitation, user=user)
    return user
