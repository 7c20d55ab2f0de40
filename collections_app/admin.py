from __future__ import annotations

from django.contrib import admin

from collections_app.models import Collection, Workspace


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "organisation", "created_at"]
    list_filter = ["organisation"]
    search_fields = ["name", "organisation__name"]


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "table_name", "region", "integration", "status", "created_at"]
    list_filter = ["status", "workspace__organisation"]
    search_fields = ["name", "table_name", "workspace__name"]
