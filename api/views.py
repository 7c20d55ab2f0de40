"""The Rockset-compatible REST API: thin views that authenticate, read, and call api.services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from api import present, services
from api.auth import Caller
from api.body import json_body
from api.errors import ApiError, error_response, invalid, not_found
from api.openapi import openapi_document
from api.throttle import RateLimited, check_rate
from collections_app.models import Collection, Source, Workspace
from collections_app.services import source_pause, source_resume
from console.models import ApiKey
from integrations.models import Integration

Handler = Callable[..., Any]


def endpoint(**handlers: Handler) -> Callable[..., JsonResponse]:
    """One URL, a handler per HTTP method; what a handler returns is sent as Rockset's `{"data": ...}`."""

    @csrf_exempt
    def view(request: HttpRequest, **kwargs: str) -> JsonResponse:
        try:
            caller = request.caller  # set by console.access.AccessMiddleware, with the key's role checked
            check_rate(caller)
            handler = handlers.get(request.method or "")
            if handler is None:
                allowed = ", ".join(sorted(handlers))
                raise ApiError("METHODNOTALLOWED", f"{request.method} is not served at {request.path}; use {allowed}.")
            answer = handler(request, caller, **kwargs)
            # A handler that answers in a shape of its own (QueryResponse has no `data`) returns a response.
            response = answer if isinstance(answer, HttpResponse) else JsonResponse({"data": answer})
            # The organisation's data, and once a new API key: no cache between here and the script keeps it.
            response["Cache-Control"] = "no-store"
            return response
        except RateLimited as error:
            response = error_response(error.type, error.message, error.status)
            response["Retry-After"] = str(error.retry_after)
            return response
        except ApiError as error:
            return error_response(error.type, error.message, error.status)

    return view


# Lookups: always through the caller's organisation, so another organisation's names are simply not found.


def _workspaces(caller: Caller) -> QuerySet[Workspace]:
    Workspace.objects.get_or_create(organisation=caller.organisation, name=Workspace.DEFAULT_NAME)
    # Positive on purpose: a negated lookup across a relation becomes a subquery over the whole workspace.
    live = Q(collections__status__in=[s for s in Collection.Status.values if s != Collection.Status.DELETED])
    return (
        Workspace.objects.for_organisation(caller.organisation)
        .select_related("created_by")
        .annotate(collection_count=Count("collections", filter=live))
    )


def _workspace(caller: Caller, name: str) -> Workspace:
    workspace = _workspaces(caller).filter(name=name).first()
    if workspace is None:
        raise not_found(f"Workspace `{name}` was not found.")
    return workspace


def _integration(caller: Caller, name: str) -> Integration:
    integration = (
        Integration.objects.for_organisation(caller.organisation).select_related("created_by").filter(name=name).first()
    )
    if integration is None:
        raise not_found(f"Integration `{name}` was not found.")
    return integration


def _collections(caller: Caller) -> QuerySet[Collection]:
    return (
        Collection.objects.for_organisation(caller.organisation)
        .select_related("workspace", "created_by")
        .prefetch_related("sources__integration", "sources__lag_alert")
    )


def _collection(caller: Caller, workspace: str, name: str) -> Collection:
    collection = _collections(caller).filter(workspace__name=workspace, name=name).first()
    if collection is None:
        raise not_found(f"Collection `{workspace}.{name}` was not found.")
    return collection


def _source(caller: Caller, workspace: str, collection: str, source_id: str) -> Source:
    for source in _collection(caller, workspace, collection).sources.all():
        if str(source.public_id) == source_id:
            return source
    raise not_found(f"Source `{source_id}` of collection `{workspace}.{collection}` was not found.")


# Organisation and workspaces


def org_get(request: HttpRequest, caller: Caller) -> dict[str, Any]:
    return present.organisation(caller.organisation)


def workspace_list(request: HttpRequest, caller: Caller) -> list[dict[str, Any]]:
    return [present.workspace(w, w.collection_count) for w in _workspaces(caller)]


def workspace_create(request: HttpRequest, caller: Caller) -> dict[str, Any]:
    workspace = services.workspace_create(caller=caller, data=json_body(request))
    return present.workspace(workspace, 0)


def workspace_get(request: HttpRequest, caller: Caller, workspace: str) -> dict[str, Any]:
    row = _workspace(caller, workspace)
    return present.workspace(row, row.collection_count)


def workspace_delete(request: HttpRequest, caller: Caller, workspace: str) -> dict[str, Any]:
    row = _workspace(caller, workspace)
    return present.workspace(services.workspace_delete(caller=caller, workspace=row), 0)


# Integrations


def integration_list(request: HttpRequest, caller: Caller) -> list[dict[str, Any]]:
    integrations = Integration.objects.for_organisation(caller.organisation).select_related("created_by")
    in_use: dict[int, list[Collection]] = {}
    collections = list(_collections(caller))
    for collection in collections:
        for source in collection.sources.all():
            in_use.setdefault(source.integration_id, []).append(collection)
    shards = present.shards_of(s for c in collections for s in c.sources.all())  # one query for every collection
    return [present.integration(i, in_use.get(i.pk, []), shards) for i in integrations]


def integration_create(request: HttpRequest, caller: Caller) -> dict[str, Any]:
    return present.integration(services.integration_create(caller=caller, data=json_body(request)), [])


def integration_get(request: HttpRequest, caller: Caller, integration: str) -> dict[str, Any]:
    row = _integration(caller, integration)
    return present.integration(row, list(_collections(caller).filter(sources__integration=row)))


def integration_delete(request: HttpRequest, caller: Caller, integration: str) -> dict[str, Any]:
    row = _integration(caller, integration)
    body = present.integration(row)
    services.integration_remove(integration=row)
    return body


# Collections and sources


def collection_list_all(request: HttpRequest, caller: Caller) -> list[dict[str, Any]]:
    return present.collections(_collections(caller))


def collection_list(request: HttpRequest, caller: Caller, workspace: str) -> list[dict[str, Any]]:
    _workspace(caller, workspace)
    return present.collections(_collections(caller).filter(workspace__name=workspace))


def collection_create(request: HttpRequest, caller: Caller, workspace: str) -> dict[str, Any]:
    _workspace(caller, workspace)  # another organisation's workspace is not found, whatever the body
    data = json_body(request)
    created = services.collection_create_from(caller=caller, workspace_name=workspace, data=data)
    return present.collection(_collection(caller, workspace, created.name))


def collection_get(request: HttpRequest, caller: Caller, workspace: str, collection: str) -> dict[str, Any]:
    return present.collection(_collection(caller, workspace, collection))


def collection_update(request: HttpRequest, caller: Caller, workspace: str, collection: str) -> dict[str, Any]:
    row = services.collection_update_from(
        collection=_collection(caller, workspace, collection), data=json_body(request)
    )
    return present.collection(row)


def collection_delete(request: HttpRequest, caller: Caller, workspace: str, collection: str) -> dict[str, Any]:
    row = services.collection_remove(collection=_collection(caller, workspace, collection))
    return present.collection(row)


def source_list(request: HttpRequest, caller: Caller, workspace: str, collection: str) -> list[dict[str, Any]]:
    return [present.source(s) for s in _collection(caller, workspace, collection).sources.all()]


def source_get(request: HttpRequest, caller: Caller, workspace: str, collection: str, source: str) -> dict[str, Any]:
    return present.source(_source(caller, workspace, collection, source))


def source_suspend(request: HttpRequest, caller: Caller, workspace: str, collection: str, source: str) -> dict:
    row = _source(caller, workspace, collection, source)
    data = json_body(request, required=False)
    if data.get("resume_after_duration") is not None:
        raise invalid("Field `resume_after_duration` is not supported: Millrace suspends a source until it is resumed.")
    if set(data) - {"resume_after_duration"}:
        raise invalid(f"Unknown field `{sorted(set(data) - {'resume_after_duration'})[0]}`.")
    source_pause(source=row)
    row.refresh_from_db()
    return present.source(row)


def source_resume_view(request: HttpRequest, caller: Caller, workspace: str, collection: str, source: str) -> dict:
    row = _source(caller, workspace, collection, source)
    source_resume(source=row)
    row.refresh_from_db()
    return present.source(row)


# API keys: a user's own keys; `self` or the caller's own email or username in the path.


def _own_user(caller: Caller, user: str) -> None:
    if user not in ("self", caller.user.email, caller.user.get_username()):
        raise not_found(f"User `{user}` was not found, or its keys are not yours to see.")


def _own_key(caller: Caller, user: str, name: str) -> ApiKey:
    _own_user(caller, user)
    key = ApiKey.objects.for_organisation(caller.organisation).active().filter(user=caller.user, name=name).first()
    if key is None:
        raise not_found(f"API key `{name}` was not found.")
    return key


def api_key_list(request: HttpRequest, caller: Caller, user: str = "self") -> list[dict[str, Any]]:
    _own_user(caller, user)
    keys = ApiKey.objects.for_organisation(caller.organisation).active().filter(user=caller.user).select_related("user")
    return [present.api_key(k) for k in keys]


def api_key_create(request: HttpRequest, caller: Caller) -> dict[str, Any]:
    row, key = services.api_key_create_from(caller=caller, data=json_body(request))
    return present.api_key(row, key=key)


def api_key_get(request: HttpRequest, caller: Caller, user: str, name: str) -> dict[str, Any]:
    return present.api_key(_own_key(caller, user, name))


def api_key_delete(request: HttpRequest, caller: Caller, user: str, name: str) -> dict[str, Any]:
    key = _own_key(caller, user, name)
    key.revoke()
    return present.api_key(key)


def openapi(request: HttpRequest) -> JsonResponse:
    """The document of what is served; public, like Rockset's published spec."""
    return JsonResponse(openapi_document(request.build_absolute_uri("/").rstrip("/")))
