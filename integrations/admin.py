from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from integrations.models import Integration
from integrations.services import integration_revalidate


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    """Credentials are entered through the console wizard; the secret key is never a field here."""

    list_display = ["name", "organisation", "auth_method", "scope_summary", "s3_bucket", "status", "validated_at"]
    list_filter = ["status", "auth_method", "scope", "organisation"]
    search_fields = ["name", "table_name", "role_arn", "access_key_id", "s3_bucket", "organisation__name"]
    fields = [
        "organisation", "name", "description", "scope", "table_name", "region", "s3_bucket", "s3_prefix",
        "auth_method", "role_arn", "access_key_id", "status", "validated_at", "validation_report",
        "created_by", "created_at", "updated_at",
    ]  # fmt: skip
    # Scope and credentials change only through the console's wizard, which validates them against AWS.
    readonly_fields = [f for f in fields if f not in ("name", "description")]
    actions = ["revalidate"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created in the console, where the wizard checks access

    @admin.action(description="Re-validate selected integrations against AWS")
    def revalidate(self, request: HttpRequest, queryset: QuerySet[Integration]) -> None:
        for integration in queryset.select_related("organisation"):
            integration_revalidate(integration=integration)
            level = messages.SUCCESS if integration.is_validated else messages.WARNING
            self.message_user(request, f"{integration.name}: {integration.get_status_display()}", level)
