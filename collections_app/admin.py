from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from collections_app.models import Collection, Source, Workspace
from collections_app.services import collection_delete, source_pause, source_resume, source_resync
from ingest import lifecycle


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "organisation", "collection_count", "created_at"]
    list_filter = ["organisation"]
    search_fields = ["name", "organisation__name"]

    @admin.display(description="collections")
    def collection_count(self, obj: Workspace) -> int:
        return obj.collections.count()


class SourceInline(admin.StackedInline):
    model = Source
    extra = 0
    can_delete = False
    exclude = ["created_at"]

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False

    def get_readonly_fields(self, request: object, obj: object = None) -> list[str]:
        return [f.name for f in Source._meta.fields if f.name not in {"id", "collection", "created_at"}]


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "table", "method", "state", "status", "created_by", "created_at"]
    list_filter = ["status", "sources__load_method", "sources__state", "workspace__organisation"]
    search_fields = ["name", "workspace__name", "sources__table_name"]
    # Only the description is a person's to change here; the rest is the engine's (lifecycle actions below).
    fields = ["workspace", "name", "description", "status", "doc_count", "total_size_bytes", "last_updated_at",
              "created_by", "created_at"]  # fmt: skip
    readonly_fields = [f for f in fields if f != "description"]
    inlines = [SourceInline]
    actions = ["pause", "resume", "resync"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        """A collection is created by the console's wizard (or the API), which checks the table with AWS."""
        return False

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[list[str], dict[str, int], set, list]:
        """Deleting marks the collection DELETED through the engine (its rows are purged after a grace, as
        everywhere else): nothing is cascaded here, so no permission on shards or segments is asked for."""
        names = [f"Collection {c} and its {c.doc_count:,} documents" for c in objs]
        return names, {"collections": len(names)}, set(), []

    def delete_model(self, request: HttpRequest, obj: Collection) -> None:
        collection_delete(collection=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Collection]) -> None:
        for collection in queryset:
            collection_delete(collection=collection)

    @admin.action(description="Pause the selected collections")
    def pause(self, request: HttpRequest, queryset: QuerySet[Collection]) -> None:
        for collection in queryset:
            source_pause(source=collection.source)
        self.message_user(request, f"Paused {queryset.count()} collection(s).")

    @admin.action(description="Resume the selected collections")
    def resume(self, request: HttpRequest, queryset: QuerySet[Collection]) -> None:
        self.act(request, queryset, source_resume, "Resumed")

    @admin.action(description="Re-sync: a fresh initial load, then the stream from a new start position")
    def resync(self, request: HttpRequest, queryset: QuerySet[Collection]) -> None:
        self.act(request, queryset, source_resync, "Re-syncing")

    def act(self, request: HttpRequest, queryset: QuerySet[Collection], action: Callable[..., object],
            done: str) -> None:  # fmt: skip
        """Resume or re-sync each collection but the deleted ones, which stay deleted (and are purged)."""
        acted, refused = 0, []
        for collection in queryset:
            try:
                action(source=collection.source)
            except lifecycle.CollectionDeleted:
                refused.append(str(collection))
            else:
                acted += 1
        if acted or not refused:
            self.message_user(request, f"{done} {acted} collection(s).")
        if refused:
            self.message_user(
                request,
                f"Left {', '.join(refused)} alone: a deleted collection can't be brought back. Create it again.",
                level=messages.WARNING,
            )

    def get_queryset(self, request: object) -> object:
        return super().get_queryset(request).select_related("workspace", "created_by").prefetch_related("sources")

    @admin.display(description="table")
    def table(self, obj: Collection) -> str:
        return f"{obj.source.table_name} ({obj.source.region})"

    @admin.display(description="method")
    def method(self, obj: Collection) -> str:
        return obj.source.get_load_method_display()

    @admin.display(description="source state")
    def state(self, obj: Collection) -> str:
        source = obj.source
        if source.error:
            return f"{source.get_state_display()} · error: {source.error[:120]}"
        if source.stall_reason:
            return f"{source.get_state_display()} · stalled: {source.stall_reason[:120]}"
        return source.get_state_display()
