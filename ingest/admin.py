"""Read-only views of the engine's rows, so an operator sees who holds what and how far each got."""

from __future__ import annotations

from django.contrib import admin

from ingest.models import LagAlert, ScanSegment, Shard


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Shard)
class ShardAdmin(ReadOnlyAdmin):
    list_display = [
        "shard_id",
        "source",
        "parent_shard_id",
        "done",
        "caught_up",
        "checkpoint",
        "records_applied",
        "leased_by",
        "lease_expires_at",
        "last_read_at",
        "not_before",
        "waiting_on",
        "waiting_since",
        "problem",
    ]
    list_filter = ["done", "caught_up", "source__collection__workspace__organisation"]
    search_fields = ["shard_id", "source__table_name", "source__collection__name", "leased_by"]


@admin.register(ScanSegment)
class ScanSegmentAdmin(ReadOnlyAdmin):
    list_display = [
        "source",
        "segment",
        "total_segments",
        "done",
        "items_loaded",
        "pages",
        "rcu_consumed",
        "leased_by",
        "lease_expires_at",
        "progress_at",
        "waiting_on",
        "waiting_since",
        "problem",
    ]
    list_filter = ["done", "source__collection__workspace__organisation"]
    search_fields = ["source__table_name", "source__collection__name", "leased_by"]


@admin.register(LagAlert)
class LagAlertAdmin(admin.ModelAdmin):
    """Operators set a collection's thresholds here; raising and clearing is the supervisor's alone."""

    list_display = ["source", "behind_seconds", "unread_seconds", "raised_at", "reason", "recovered_at"]
    list_filter = ["source__collection__workspace__organisation"]
    raw_id_fields = ["source"]
    readonly_fields = ["raised_at", "reason", "recovered_at"]

    def has_add_permission(self, request: object) -> bool:
        return False  # each collection has its one, made with it (ingest/alerts.py)
