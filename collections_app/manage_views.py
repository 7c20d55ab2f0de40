"""Managing a collection after it exists: edit, re-sync and delete, each a page that works without JavaScript
and asks before it acts. Who may use them is decided in console.access (members and admins)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from collections_app.forms import CollectionEditForm, DeleteForm, ResyncForm
from collections_app.models import Collection
from collections_app.services import collection_delete, collection_update, resync_estimate, source_resync
from console.access import scoped_object_or_404
from ingest import lifecycle


def _collection(request: HttpRequest, workspace: str, name: str) -> Collection:
    queryset = Collection.objects.select_related("workspace").prefetch_related("sources__integration")
    return scoped_object_or_404(request, queryset, workspace__name=workspace, name=name)


def _back(collection: Collection) -> HttpResponse:
    return redirect("collection_detail", workspace=collection.workspace.name, name=collection.name)


def collection_edit(request: HttpRequest, workspace: str, name: str) -> HttpResponse:
    collection = _collection(request, workspace, name)
    source = collection.source
    initial = {
        "description": collection.description,
        "rcu": source.rcu,
        "poll_frequency": source.poll_frequency_seconds,
    }
    form = CollectionEditForm(request.POST or None, source=source, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        collection_update(
            collection=collection,
            description=data["description"],
            rcu=data.get("rcu"),
            poll_frequency_ms=int(data["poll_frequency"] * Decimal(1000)),
        )
        messages.success(request, f"Saved the changes to {collection}.")
        return _back(collection)
    return render(request, "collections_app/edit.html", {"collection": collection, "source": source, "form": form})


def collection_resync(request: HttpRequest, workspace: str, name: str) -> HttpResponse:
    collection = _collection(request, workspace, name)
    source = collection.source
    form = ResyncForm(request.POST or None, source=source, initial={"rcu": source.rcu})
    if request.method == "POST" and form.is_valid():
        try:
            source_resync(source=source, rcu=form.cleaned_data.get("rcu"))
        except lifecycle.CollectionDeleted:  # deleted in another tab meanwhile
            messages.error(request, f"{collection} was deleted meanwhile; it can't be re-synced.")
            return redirect("collection_list")
        messages.success(
            request, f"Re-syncing {collection}: its documents were removed and a new initial load is queued."
        )
        return _back(collection)
    context: dict[str, Any] = {
        "collection": collection,
        "source": source,
        "form": form,
        "estimate": resync_estimate(source=source),
    }
    return render(request, "collections_app/resync.html", context)


def collection_delete_view(request: HttpRequest, workspace: str, name: str) -> HttpResponse:
    collection = _collection(request, workspace, name)
    source = collection.source
    form = DeleteForm(request.POST or None, collection=collection, source=source)
    if request.method == "POST" and form.is_valid():
        _, files = collection_delete(
            collection=collection, delete_export_files=form.cleaned_data.get("delete_export_files", False)
        )
        messages.success(request, f"Deleted {collection}. {files}".strip())
        return redirect("collection_list")
    return render(request, "collections_app/delete.html", {"collection": collection, "source": source, "form": form})
