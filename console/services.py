"""Writes for accounts: the first admin, organisations and API keys."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest
from django.utils.crypto import salted_hmac

from console.models import ApiKey, Membership, Organisation, hash_api_key

User = get_user_model()


def setup_token() -> str:
    """The one-time token the first-run page asks for, so that the first visitor of a fresh public install
    can't make themselves its operator: only who can read the server's log (where the page prints it) or
    `make run`'s output can. Derived from SECRET_KEY, so every web process and machine agrees on it with
    nothing stored; it stops mattering once the first account exists (the page is gone then)."""
    return salted_hmac("millrace.first-run", "setup-token", algorithm="sha256").hexdigest()[:24]


@transaction.atomic
def first_admin_create(*, username: str, email: str, password: str, organisation_name: str) -> AbstractBaseUser:
    """Create the install's first user as superuser and admin of a new organisation."""
    user = User.objects.create_superuser(username=username, email=email, password=password)
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


def organisation_for(user: AbstractBaseUser) -> Organisation:
    """The organisation a signed-in user works in (their first membership); 404 when they have none."""
    membership = Membership.objects.filter(user=user).select_related("organisation").order_by("created_at").first()
    if membership is None:
        raise Http404("You are not a member of any organisation. Ask an admin to add you.")
    return membership.organisation


def request_organisation(request: HttpRequest) -> Organisation:
    """The signed-in user's organisation, looked up once per request (pages and the layout both need it)."""
    if not hasattr(request, "_organisation"):
        request._organisation = organisation_for(request.user)
    return request._organisation
