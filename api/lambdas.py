"""Rockset's QueryLambdas, Views and Aliases endpoints: thin handlers over queries/lambdas.py and
queries/saved.py, answering in the official client's shapes (`{"data": ...}`, a QueryResponse when a lambda
runs) and Rockset's error body for every refusal."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.db.models import Count
from django.http import HttpRequest, HttpResponse

from api.auth import Caller
from api.body import field, json_body, only_known
from api.errors import ApiError, invalid
from api.present import iso
from api.queries import MAX_TIMEOUT_MS, _count, checked_parameters, paging, query_answer, query_error_response
from console.access import Need, caller_role_allows, refusal
from queries import lambdas as ql
from queries import saved
from queries.errors import QueryError
from queries.models import Alias, QueryLambda, QueryLambdaTag, QueryLambdaVersion, View

EXECUTE_FIELDS = {"parameters", "default_row_limit", "max_initial_results", "paginate", "async", "async_options",
                  "timeout_ms", "initial_paginate_response_doc_count", "debug_threshold_ms",
                  "virtual_instance_id"}  # fmt: skip


def reported(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A QueryError from the services is Rockset's error body, with its line and column when it has them."""

    @functools.wraps(handler)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except QueryError as error:
            return query_error_response(error)

    return wrapped


def _author(caller: Caller) -> ql.Author:
    return ql.Author(email=caller.email, api_key_name=caller.key.name)


def _writer(caller: Caller) -> None:
    """For a URL that both reads or runs (any role) and changes (members and admins), by method."""
    if not caller_role_allows(caller.role, Need.MEMBER):
        raise ApiError("FORBIDDEN", refusal(caller.membership, Need.MEMBER, "This API key's user"))


# Shapes


def version_data(version: QueryLambdaVersion, query_lambda: QueryLambda) -> dict[str, Any]:
    """Rockset's QueryLambdaVersion; the lambda's usage is its `stats` (plus `executions`, a count)."""
    return {
        "workspace": query_lambda.workspace.name,
        "name": query_lambda.name,
        "version": version.version,
        "description": version.description,
        "sql": {"query": version.sql, "default_parameters": version.default_parameters},
        "collections": version.collections,
        "state": version.state,
        "created_at": iso(version.created_at),
        "created_by": version.created_by,
        "created_by_apikey_name": version.created_by_apikey_name or None,
        "public_access_id": version.public_access_id or None,
        "stats": {
            "last_executed": iso(query_lambda.last_executed_at),
            "last_executed_by": query_lambda.last_executed_by or None,
            "last_execution_error": iso(query_lambda.last_error_at),
            "last_execution_error_message": query_lambda.last_error_message or None,
            "executions": query_lambda.executions,
        },
    }


def lambda_data(query_lambda: QueryLambda) -> dict[str, Any]:
    latest = next((t.version for t in query_lambda.tags.all() if t.name == QueryLambdaTag.LATEST), None)
    return {
        "workspace": query_lambda.workspace.name,
        "name": query_lambda.name,
        "collections": latest.collections if latest else [],
        "last_updated": iso(query_lambda.updated_at),
        "last_updated_by": query_lambda.updated_by or None,
        "latest_version": version_data(latest, query_lambda) if latest else None,
        "version_count": getattr(query_lambda, "version_count", None) or query_lambda.versions.count(),
    }


def tag_data(tag: QueryLambdaTag, query_lambda: QueryLambda) -> dict[str, Any]:
    return {"tag_name": tag.name, "version": version_data(tag.version, query_lambda)}


def view_data(view: View) -> dict[str, Any]:
    return {
        "workspace": view.workspace.name,
        "name": view.name,
        "path": f"{view.workspace.name}.{view.name}",
        "query_sql": view.query,
        "description": view.description,
        "entities": view.entities,
        "state": "CREATED",
        "created_at": iso(view.created_at),
        "modified_at": iso(view.modified_at),
        "creator_email": view.created_by,
        "owner_email": view.created_by,
        "created_by_apikey_name": view.created_by_apikey_name or None,
    }


def alias_data(alias: Alias) -> dict[str, Any]:
    return {
        "workspace": alias.workspace.name,
        "name": alias.name,
        "collections": [f"{alias.collection.workspace.name}.{alias.collection.name}"],
        # Millrace's: the collection it switches to once that one is READY (queries read `collections` till then).
        "pending_collections": [f"{alias.pending.workspace.name}.{alias.pending.name}"] if alias.pending else [],
        "description": alias.description,
        "state": "CREATED",
        "created_at": iso(alias.created_at),
        "modified_at": iso(alias.modified_at),
        "creator_email": alias.created_by,
        "created_by_apikey_name": alias.created_by_apikey_name or None,
    }


# Query Lambdas


def _lambdas(caller: Caller) -> Any:
    return (
        ql.lambdas_of(caller.organisation)
        .annotate(version_count=Count("versions", distinct=True))
        .prefetch_related("tags__version")
    )


def _lambda(caller: Caller, workspace: str, name: str) -> QueryLambda:
    return ql.lambda_get(organisation=caller.organisation, workspace=workspace, name=name)


def _sql_fields(data: dict[str, Any], *, required: bool) -> tuple[str, list[dict[str, Any]]]:
    sql = field(data, "sql", dict, required=required) or {}
    only_known(sql, {"query", "default_parameters"}, "sql")
    query = field(sql, "query", str, prefix="sql", required=True, max_length=100_000)
    return query, checked_parameters(sql, "default_parameters")


@reported
def lambda_list_all(request: HttpRequest, caller: Caller) -> list[dict[str, Any]]:
    return [lambda_data(x) for x in _lambdas(caller).order_by("workspace__name", "name")]


@reported
def lambda_list(request: HttpRequest, caller: Caller, workspace: str) -> list[dict[str, Any]]:
    ql.workspace_for(caller.organisation, workspace)  # an unknown workspace is NOTFOUND, not an empty list
    return [lambda_data(x) for x in _lambdas(caller).filter(workspace__name=workspace).order_by("name")]


@reported
def lambda_create(request: HttpRequest, caller: Caller, workspace: str) -> dict[str, Any]:
    ql.workspace_for(caller.organisation, workspace)
    data = json_body(request)
    only_known(data, {"name", "sql", "description", "is_public"})
    name = field(data, "name", str, required=True, max_length=100)
    query, defaults = _sql_fields(data, required=True)
    version = ql.lambda_create(
        organisation=caller.organisation, workspace=workspace, name=name, sql=query, default_parameters=defaults,
        description=field(data, "description", str, max_length=1000) or "",
        is_public=field(data, "is_public", bool) or False, author=_author(caller),
    )  # fmt: skip
    return version_data(version, version.query_lambda)


@reported
def lambda_get(request: HttpRequest, caller: Caller, workspace: str, query_lambda: str) -> dict[str, Any]:
    return lambda_data(_lambdas(caller).get(pk=_lambda(caller, workspace, query_lambda).pk))


@reported
def lambda_delete(request: HttpRequest, caller: Caller, workspace: str, query_lambda: str) -> dict[str, Any]:
    row = _lambdas(caller).get(pk=_lambda(caller, workspace, query_lambda).pk)
    data = lambda_data(row)
    ql.lambda_delete(query_lambda=row)
    return data


@reported
def version_list(request: HttpRequest, caller: Caller, workspace: str, query_lambda: str) -> list[dict[str, Any]]:
    row = _lambda(caller, workspace, query_lambda)
    return [version_data(v, row) for v in row.versions.order_by("-number")]


@reported
def lambda_update(request: HttpRequest, caller: Caller, workspace: str, query_lambda: str) -> dict[str, Any]:
    """POST .../versions: a new version (Rockset's UpdateQueryLambdaRequest); `?create=true` makes the
    lambda when there is none by that name."""
    data = json_body(request)
    only_known(data, {"sql", "description", "is_public"})
    query, defaults = _sql_fields(data, required=True)
    exists = ql.lambdas_of(caller.organisation).filter(workspace__name=workspace, name=query_lambda).exists()
    if not exists and request.GET.get("create", "").lower() == "true":
        version = ql.lambda_create(
            organisation=caller.organisation, workspace=workspace, name=query_lambda, sql=query,
            default_parameters=defaults, description=field(data, "description", str, max_length=1000) or "",
            is_public=field(data, "is_public", bool) or False, author=_author(caller),
        )  # fmt: skip
        return version_data(version, version.query_lambda)
    row = _lambda(caller, workspace, query_lambda)
    version = ql.lambda_update(
        organisation=caller.organisation, query_lambda=row, sql=query, default_parameters=defaults,
        description=field(data, "description", str, max_length=1000), is_public=field(data, "is_public", bool),
        author=_author(caller),
    )  # fmt: skip
    row.refresh_from_db()
    return version_data(version, row)


@reported
def version_get(
    request: HttpRequest, caller: Caller, workspace: str, query_lambda: str, version: str
) -> dict[str, Any]:
    row = _lambda(caller, workspace, query_lambda)
    return version_data(ql.version_get(query_lambda=row, version=version), row)


@reported
def version_delete(
    request: HttpRequest, caller: Caller, workspace: str, query_lambda: str, version: str
) -> dict[str, Any]:
    row = _lambda(caller, workspace, query_lambda)
    target = ql.version_get(query_lambda=row, version=version)
    data = version_data(target, row)
    ql.version_delete(query_lambda=row, version=target)
    return data


@reported
def tag_list(request: HttpRequest, caller: Caller, workspace: str, query_lambda: str) -> list[dict[str, Any]]:
    row = _lambda(caller, workspace, query_lambda)
    return [tag_data(t, row) for t in row.tags.select_related("version")]


@reported
def tag_create(request: HttpRequest, caller: Caller, workspace: str, query_lambda: str) -> dict[str, Any]:
    """POST .../tags: create a tag, or move one that exists to another version."""
    row = _lambda(caller, workspace, query_lambda)
    data = json_body(request)
    only_known(data, {"tag_name", "version"})
    tag = ql.tag_set(
        query_lambda=row, tag=field(data, "tag_name", str, required=True, max_length=100),
        version=field(data, "version", str, required=True, max_length=100),
    )  # fmt: skip
    return tag_data(tag, row)


@reported
def tag_get(request: HttpRequest, caller: Caller, workspace: str, query_lambda: str, tag: str) -> dict[str, Any]:
    row = _lambda(caller, workspace, query_lambda)
    return tag_data(ql.tag_get(query_lambda=row, tag=tag), row)


@reported
def tag_delete(request: HttpRequest, caller: Caller, workspace: str, query_lambda: str, tag: str) -> dict[str, Any]:
    _writer(caller)
    row = _lambda(caller, workspace, query_lambda)
    gone = ql.tag_get(query_lambda=row, tag=tag)
    data = tag_data(gone, row)
    ql.tag_delete(query_lambda=row, tag=tag)
    return data


def _execute(request: HttpRequest, caller: Caller, row: QueryLambda, version: QueryLambdaVersion) -> HttpResponse:
    """Rockset's ExecuteQueryLambdaRequest run as a query (sync, paginated or async), answered with the
    query's QueryResponse and the lambda's `query_lambda_path`; each execution is counted on the lambda."""
    data = json_body(request, required=False)
    only_known(data, EXECUTE_FIELDS)
    given = field(data, "parameters", list) or []
    for index, parameter in enumerate(given):
        where = f"parameters[{index}]"
        if not isinstance(parameter, dict):
            raise invalid(f"Field `{where}` must be an object with `name`, `type` and `value`.")
        only_known(parameter, {"name", "type", "value"}, where)
        field(parameter, "name", str, prefix=where, required=True, max_length=200)
        field(parameter, "type", str, prefix=where, max_length=20)
        if isinstance(parameter.get("value"), (dict, list)):
            raise invalid(f"Field `{where}.value` must be a string, number, boolean or null.")
    timeout = _count(data, "timeout_ms", least=1, most=MAX_TIMEOUT_MS)
    limit = _count(data, "default_row_limit")
    kept = paging(data)
    path = f"{row.workspace.name}.{row.name}"
    try:
        parameters = ql.execution_parameters(version, given)
        request_data = {"sql": version.sql, "parameters": parameters, "default_row_limit": limit, "timeout_ms": timeout}
        response = query_answer(caller, request_data, kept, {"query_lambda_path": path}, query_lambda=row)
    except QueryError as error:
        ql.usage_record(query_lambda=row, executed_by=caller.email, error=error)
        return query_error_response(error)
    ql.usage_record(query_lambda=row, executed_by=caller.email)
    return response


@reported
def execute_version(request: HttpRequest, caller: Caller, workspace: str, query_lambda: str, version: str) -> Any:
    row = _lambda(caller, workspace, query_lambda)
    return _execute(request, caller, row, ql.version_get(query_lambda=row, version=version))


@reported
def execute_tag(request: HttpRequest, caller: Caller, workspace: str, query_lambda: str, tag: str) -> Any:
    row = _lambda(caller, workspace, query_lambda)
    return _execute(request, caller, row, ql.tag_get(query_lambda=row, tag=tag).version)


# Views


@reported
def view_list_all(request: HttpRequest, caller: Caller) -> list[dict[str, Any]]:
    return [view_data(v) for v in saved.views_of(caller.organisation).order_by("workspace__name", "name")]


@reported
def view_list(request: HttpRequest, caller: Caller, workspace: str) -> list[dict[str, Any]]:
    ql.workspace_for(caller.organisation, workspace)
    return [view_data(v) for v in saved.views_of(caller.organisation).filter(workspace__name=workspace)]


@reported
def view_create(request: HttpRequest, caller: Caller, workspace: str) -> dict[str, Any]:
    ql.workspace_for(caller.organisation, workspace)
    data = json_body(request)
    only_known(data, {"name", "query", "description"})
    view = saved.view_create(
        organisation=caller.organisation, workspace=workspace, name=field(data, "name", str, required=True),
        query=field(data, "query", str, required=True, max_length=100_000),
        description=field(data, "description", str, max_length=1000) or "", author=_author(caller),
    )  # fmt: skip
    return view_data(view)


@reported
def view_get(request: HttpRequest, caller: Caller, workspace: str, view: str) -> dict[str, Any]:
    return view_data(saved.view_get(organisation=caller.organisation, workspace=workspace, name=view))


@reported
def view_update(request: HttpRequest, caller: Caller, workspace: str, view: str) -> dict[str, Any]:
    row = saved.view_get(organisation=caller.organisation, workspace=workspace, name=view)
    data = json_body(request)
    only_known(data, {"query", "description"})
    updated = saved.view_update(
        organisation=caller.organisation, view=row, query=field(data, "query", str, required=True, max_length=100_000),
        description=field(data, "description", str, max_length=1000),
    )  # fmt: skip
    return view_data(updated)


@reported
def view_delete(request: HttpRequest, caller: Caller, workspace: str, view: str) -> dict[str, Any]:
    row = saved.view_get(organisation=caller.organisation, workspace=workspace, name=view)
    data = view_data(row)
    saved.view_delete(organisation=caller.organisation, view=row)
    return {**data, "state": "DELETED"}


# Aliases


@reported
def alias_list_all(request: HttpRequest, caller: Caller) -> list[dict[str, Any]]:
    return [alias_data(a) for a in saved.aliases_of(caller.organisation).order_by("workspace__name", "name")]


@reported
def alias_list(request: HttpRequest, caller: Caller, workspace: str) -> list[dict[str, Any]]:
    ql.workspace_for(caller.organisation, workspace)
    return [alias_data(a) for a in saved.aliases_of(caller.organisation).filter(workspace__name=workspace)]


@reported
def alias_create(request: HttpRequest, caller: Caller, workspace: str) -> dict[str, Any]:
    ql.workspace_for(caller.organisation, workspace)
    data = json_body(request)
    only_known(data, {"name", "collections", "description"})
    alias = saved.alias_create(
        organisation=caller.organisation, workspace=workspace, name=field(data, "name", str, required=True),
        collections=field(data, "collections", list, required=True),
        description=field(data, "description", str, max_length=1000) or "", author=_author(caller),
    )  # fmt: skip
    return alias_data(alias)


@reported
def alias_get(request: HttpRequest, caller: Caller, workspace: str, alias: str) -> dict[str, Any]:
    return alias_data(saved.alias_get(organisation=caller.organisation, workspace=workspace, name=alias))


@reported
def alias_update(request: HttpRequest, caller: Caller, workspace: str, alias: str) -> dict[str, Any]:
    """POST: switch the alias to another collection, atomically."""
    row = saved.alias_get(organisation=caller.organisation, workspace=workspace, name=alias)
    data = json_body(request)
    only_known(data, {"collections", "description"})
    updated = saved.alias_switch(
        organisation=caller.organisation, alias=row, collections=field(data, "collections", list, required=True),
        description=field(data, "description", str, max_length=1000),
    )  # fmt: skip
    return alias_data(saved.alias_get(organisation=caller.organisation, workspace=workspace, name=updated.name))


@reported
def alias_delete(request: HttpRequest, caller: Caller, workspace: str, alias: str) -> dict[str, Any]:
    row = saved.alias_get(organisation=caller.organisation, workspace=workspace, name=alias)
    data = alias_data(row)
    saved.alias_delete(organisation=caller.organisation, alias=row)
    return {**data, "state": "DELETED"}
