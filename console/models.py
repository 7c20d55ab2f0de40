"""Organisations, their members and invitations, API keys, and the heartbeat rows of the background processes.

Every model an organisation owns gets its manager from `OrganisationQuerySet`, so that there is one way to
reach a tenant's rows (`Model.objects.for_organisation(organisation)`) and one place to get it right.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from datetime import datetime
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone


class OrganisationQuerySet(models.QuerySet):
    """The one scoped path to an organisation's rows; subclasses say how a row reaches its organisation."""

    organisation_path = "organisation"

    def for_organisation(self, organisation: Organisation) -> OrganisationQuerySet:
        return self.filter(**{self.organisation_path: organisation})


def new_external_id() -> str:
    """A random External ID for cross-account roles; AWS accepts 2-1224 characters, we use 40."""
    return secrets.token_hex(20)


class Organisation(models.Model):
    """A tenant. Everything a user sees is scoped to the organisation they belong to."""

    name = models.CharField(max_length=100)
    external_id = models.CharField(
        max_length=64,
        unique=True,
        default=new_external_id,
        editable=False,
        help_text="Put this in the trust policy of a cross-account role (sts:ExternalId).",
    )
    notification_emails = models.TextField(
        blank=True,
        help_text="Addresses that also get “initial load done” and error emails, one per line or comma-separated.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    @property
    def notification_addresses(self) -> list[str]:
        return [a for a in re.split(r"[\s,;]+", self.notification_emails) if a]


class Membership(models.Model):
    """A user's place in an organisation, and what the role there lets them do (as Rockset's roles did):
    read-only sees everything and changes nothing, member creates and changes collections and
    integrations, admin also manages the members, invitations and other people's API keys."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"
        READ_ONLY = "read_only", "Read-only"

    # Each role may do what the roles below it may; the access rules compare these ranks.
    RANK: ClassVar[dict[str, int]] = {Role.READ_ONLY: 1, Role.MEMBER: 2, Role.ADMIN: 3}

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "user"], name="one_membership_per_org")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organisation} ({self.role})"

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN

    @property
    def can_write(self) -> bool:
        return self.RANK[self.role] >= self.RANK[self.Role.MEMBER]


class InvitationQuerySet(OrganisationQuerySet):
    def pending(self) -> InvitationQuerySet:
        return self.filter(accepted_at__isnull=True, expires_at__gt=timezone.now())


class Invitation(models.Model):
    """An admin's invitation for an email address to join an organisation with a role. The link carries
    a random token of which only the hash is stored (like API keys); it works once, until it expires."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} to {self.organisation} ({self.role})"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.expires_at > timezone.now()


def hash_api_key(key: str) -> str:
    """API keys are 256-bit random tokens, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyQuerySet(OrganisationQuerySet):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A user's key for the REST API. Only its hash is stored; the key is shown once at creation."""

    KEY_PREFIX = "mr_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=64)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    last_four = models.CharField(max_length=4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="api_key_name_unique_per_user")]
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} (…{self.last_four})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])


class Heartbeat(models.Model):
    """The last time a background process (worker, beat) proved it was alive, for the dashboard."""

    name = models.CharField(max_length=32, unique=True)
    seen_at = models.DateTimeField()

    _cache: ClassVar[dict[str, tuple[float, datetime | None]]] = {}

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%H:%M:%S}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        self._cache.pop(self.name, None)

    @classmethod
    def last_seen(cls, name: str) -> datetime | None:
        """When `name` last proved alive, read at most once a second per process: a page or an API list
        that shows many collections asks once, not once per collection."""
        cached = cls._cache.get(name)
        if cached and time.monotonic() - cached[0] < 1.0:
            return cached[1]
        seen = cls.objects.filter(name=name).values_list("seen_at", flat=True).first()
        cls._cache[name] = (time.monotonic(), seen)
        return seen
