"""The admin site shows every organisation's rows at once, so it is the operators' alone."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest


class OperatorAdminSite(admin.AdminSite):
    site_header = "Millrace administration"
    site_title = "Millrace admin"

    def has_permission(self, request: HttpRequest) -> bool:
        """Superusers only: Django's default (any staff user with model permissions) would let a staff
        account read every organisation's integrations and keys."""
        return bool(request.user.is_active and request.user.is_superuser)


class OperatorAdminConfig(AdminConfig):
    """Django's admin app, with the site above as `admin.site`."""

    default_site = "console.admin_site.OperatorAdminSite"
