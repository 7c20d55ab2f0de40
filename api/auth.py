"""`Authorization: ApiKey <key>`: the keys users create in the console, scoped to the key's organisation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.utils import timezone

from api.errors import ApiError
from console.models import ApiKey, Membership, Organisation, hash_api_key

LAST_USED_RESOLUTION = timedelta(minutes=1)  # don't write the key's row on every request


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's user, in the key's organisation (never another one)."""

    key: ApiKey
    user: AbstractBaseUser
    organisation: Organisation
    membership: Membership

    @property
    def role(self) -> str:
        """The key acts with its user's role in the key's organisation, as it is now (not when made)."""
        return self.membership.role

    @property
    def email(self) -> str:
        return self.user.email or self.user.get_username()


def authenticate(request: HttpRequest) -> Caller:
    """The official client sends `apikey <key>` in lower case; Rockset accepted any case of the scheme."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, key = header.strip().partition(" ")
    if scheme.lower() != "apikey" or not key.strip():
        raise ApiError(
            "AUTHEXCEPTION",
            "Authentication failed: send the header `Authorization: ApiKey <key>` with "
            "an API key from the console's API keys page.",
        )
    row = (
        ApiKey.objects.active()
        .select_related("user", "organisation")
        .filter(key_hash=hash_api_key(key.strip()))
        .first()
    )
    if row is None or not row.user.is_active:
        raise ApiError("AUTHEXCEPTION", "Authentication failed: the API key is not valid, or it was revoked.")
    membership = Membership.objects.filter(user=row.user, organisation=row.organisation).first()
    if membership is None:
        raise ApiError(
            "AUTHEXCEPTION", "Authentication failed: the key's user is no longer a member of its organisation."
        )
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=row.pk).update(last_used_at=now)
    membership.organisation = row.organisation  # already loaded with the key
    return Caller(key=row, user=row.user, organisation=row.organisation, membership=membership)
