from __future__ import annotations

from django.contrib import admin

from console.models import ApiKey, Heartbeat, Membership, Organisation


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "external_id", "member_count", "created_at"]
    search_fields = ["name", "external_id"]
    readonly_fields = ["external_id", "created_at"]
    inlines = [MembershipInline]

    @admin.display(description="members")
    def member_count(self, obj: Organisation) -> int:
        return obj.memberships.count()


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organisation", "role", "created_at"]
    list_filter = ["role", "organisation"]
    search_fields = ["user__username", "user__email", "organisation__name"]
    autocomplete_fields = ["user", "organisation"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created by their users in the console (shown once); here they can only be seen and revoked."""

    list_display = ["name", "user", "organisation", "last_four", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["organisation", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "user__username", "organisation__name"]
    fields = ["name", "user", "organisation", "last_four", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: object) -> bool:
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: object, queryset: object) -> None:
        for key in queryset.filter(revoked_at__isnull=True):
            key.revoke()


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["name", "seen_at"]
    readonly_fields = ["name", "seen_at"]  # written by the worker and beat

    def has_add_permission(self, request: object) -> bool:
        return False  # written by the worker
