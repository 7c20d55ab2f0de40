"""Rockset's query API: reading a QueryRequest, shaping a QueryResponse, and QueryError as Rockset's error;
async queries, the kept ones (`GET /queries`, `/queries/{id}`, `/queries/{id}/pages`) and their cancel.

The response is written with the documents' exact JSON writer, not Django's encoder: a 38-digit number in
a document, or a SUM of them, must reach the client with every digit (DjangoJSONEncoder would send a
Decimal as a string)."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse

from api.auth import Caller
from api.body import field, json_body, only_known
from api.errors import STATUS_FOR_TYPE, invalid, not_found
from ingest.convert import dumps
from queries.errors import QueryError
from queries.models import Query, QueryLambda
from queries.services import (
    CLIENT_TIMEOUT_MAX_MS,
    MAX_TIMEOUT_MS,
    column_fields,
    query_cancel,
    query_results_page,
    query_run,
    query_submit,
    query_translate,
    query_wait,
)

REQUEST_FIELDS = {"sql", "async", "async_options", "debug_threshold_ms", "max_initial_results", "timeout_ms"}
SQL_FIELDS = {"query", "parameters", "default_row_limit", "initial_paginate_response_doc_count", "paginate"}
ASYNC_FIELDS = {"client_timeout_ms", "max_initial_results", "timeout_ms"}
QUERY_STATUS_FOR_TYPE = {"QUERY_TIMEOUT": 408, "QUERY_ERROR": 400, "RESOURCEEXCEEDED": 400, "QUERY_CANCELLED": 400}
DEFAULT_PAGE_DOCS = 10_000  # Rockset's default for `initial_paginate_response_doc_count`; ours for a page too
MAX_PAGE_DOCS = 100_000


def query_error_response(error: QueryError) -> JsonResponse:
    status = QUERY_STATUS_FOR_TYPE.get(error.type) or STATUS_FOR_TYPE.get(error.type, 400)
    error_id = uuid.uuid4().hex
    body = {"message": error.message, "type": error.type, "line": error.line, "column": error.column,
            "trace_id": error_id, "error_id": error_id}  # fmt: skip
    return JsonResponse(body, status=status)


def _count(obj: dict[str, Any], key: str, prefix: str = "", *, least: int = 0, most: int | None = None) -> int | None:
    value = field(obj, key, int, prefix=prefix)
    name = f"{prefix}.{key}" if prefix else key
    if value is not None and (value < least or (most is not None and value > most)):
        bound = f"between {least:,} and {most:,}" if most is not None else f"{least} or more"
        raise invalid(f"Field `{name}` must be {bound}.")
    return value


def checked_parameters(sql: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """`sql.<key>`: a list of `{name, type, value}` with a plain value, as Rockset's QueryParameter."""
    parameters = field(sql, key, list, prefix="sql") or []
    for index, parameter in enumerate(parameters):
        where = f"sql.{key}[{index}]"
        if not isinstance(parameter, dict):
            raise invalid(f"Field `{where}` must be an object with `name`, `type` and `value`.")
        only_known(parameter, {"name", "type", "value"}, where)
        field(parameter, "name", str, prefix=where, required=True, max_length=200)
        field(parameter, "type", str, prefix=where, required=True, max_length=20)
        if isinstance(parameter.get("value"), (dict, list)):
            raise invalid(f"Field `{where}.value` must be a string, number, boolean or null.")
    return parameters


def _sql_part(data: dict[str, Any]) -> dict[str, Any]:
    only_known(data, REQUEST_FIELDS)
    sql = field(data, "sql", dict, required=True)
    only_known(sql, SQL_FIELDS, "sql")
    field(sql, "query", str, prefix="sql", required=True, max_length=100_000)
    parameters = checked_parameters(sql, "parameters")
    limit = _count(sql, "default_row_limit", "sql")
    timeout = _count(data, "timeout_ms", least=1, most=MAX_TIMEOUT_MS)
    return {"sql": sql["query"], "parameters": parameters, "default_row_limit": limit, "timeout_ms": timeout}


def paging(data: dict[str, Any]) -> dict[str, Any]:
    """Async, and how many results the first answer carries when the rest are kept for `/pages`: Rockset's
    `max_initial_results` (or its older `sql.paginate` with `initial_paginate_response_doc_count`, which a
    Query Lambda's execution request carries at its top level)."""
    run_async = field(data, "async", bool) or False
    options = field(data, "async_options", dict) or {}
    only_known(options, ASYNC_FIELDS, "async_options")
    # client_timeout_ms: how long the first answer waits for an async query (up to two minutes, as Rockset);
    # finished by then, it answers with the results, else with the query_id to poll.
    client_timeout = _count(options, "client_timeout_ms", "async_options", most=CLIENT_TIMEOUT_MAX_MS)
    async_timeout = _count(options, "timeout_ms", "async_options", least=1, most=MAX_TIMEOUT_MS)
    initial = _count(data, "max_initial_results", least=1, most=MAX_PAGE_DOCS)
    initial = initial or _count(options, "max_initial_results", "async_options", least=1, most=MAX_PAGE_DOCS)
    sql, prefix = (data["sql"], "sql") if isinstance(data.get("sql"), dict) else (data, "")
    paginate = field(sql, "paginate", bool, prefix=prefix)
    old_style = _count(sql, "initial_paginate_response_doc_count", prefix, least=1, most=MAX_PAGE_DOCS)
    if initial is None and (paginate or old_style):
        initial = old_style or DEFAULT_PAGE_DOCS
    run_async = run_async or client_timeout is not None  # async_options with a client timeout: async, waited for
    return {"run_async": run_async, "initial": initial, "async_timeout": async_timeout,
            "client_timeout": client_timeout}  # fmt: skip


def query_create(request: HttpRequest, caller: Caller) -> HttpResponse:
    """POST /queries. A plain query runs now and answers with its whole result, keeping nothing; an async or
    paginated one is kept (a row, its results for MILLRACE_QUERY_RESULTS_SECONDS) for `/queries/{id}`."""
    data = json_body(request)
    request_data = _sql_part(data)
    try:
        return query_answer(caller, request_data, paging(data))
    except QueryError as error:
        return query_error_response(error)


def query_answer(
    caller: Caller, request_data: dict[str, Any], paging: dict[str, Any], extra: dict[str, Any] | None = None,
    query_lambda: QueryLambda | None = None,
) -> HttpResponse:  # fmt: skip
    """Run (or queue) a query and answer with Rockset's QueryResponse; `extra` fields join the body (a
    Query Lambda's `query_lambda_path`). A QueryError is raised for the caller to report."""
    extra = extra or {}
    if paging["run_async"] or paging["initial"]:
        return _kept_query(caller, {**request_data, "query_lambda": query_lambda}, paging, extra)
    outcome = query_run(organisation=caller.organisation, **request_data)
    results = outcome.rows.results
    body = {
        **extra,
        "query_id": str(uuid.uuid4()),
        "status": "COMPLETED",
        "collections": outcome.collections,
        "column_fields": column_fields(outcome.rows),
        "results": results,
        "results_total_doc_count": len(results),
        "stats": {"elapsed_time_ms": outcome.elapsed_ms, "throttled_time_micros": 0},
        "query_errors": [],
        "warnings": outcome.warnings,
    }
    return _json(dumps(body))


def _kept_query(
    caller: Caller, request_data: dict[str, Any], paging: dict[str, Any], extra: dict[str, Any]
) -> HttpResponse:
    if paging["run_async"] and paging["async_timeout"]:
        request_data = {**request_data, "timeout_ms": paging["async_timeout"]}
    query = query_submit(
        organisation=caller.organisation, user=caller.user, via=Query.Via.API, run_async=paging["run_async"],
        **request_data,
    )  # fmt: skip
    if paging["run_async"] and paging["client_timeout"]:
        query = query_wait(query=query, timeout_ms=paging["client_timeout"])
    if query.status in Query.UNFINISHED:
        return _json(dumps({**extra, "query_id": str(query.query_id), "status": query.status, "results": [],
                            "query_errors": [], "warnings": []}))  # fmt: skip
    if query.status != Query.Status.COMPLETED:
        raise _query_error(query)
    count = paging["initial"] or DEFAULT_PAGE_DOCS
    texts = query_results_page(query=query, start=0, count=count)
    body = _prefix(
        {
            **extra,
            "query_id": str(query.query_id),
            "status": query.status,
            "collections": query.collections,
            "column_fields": query.column_fields,
            "results_total_doc_count": query.row_count,
            "pagination": _pagination(query, 0, len(texts)),
            "stats": {"elapsed_time_ms": query.elapsed_ms, "throttled_time_micros": 0},
            "query_errors": [],
            "warnings": [],
        },
        texts,
    )
    return _json(body)


def query_validate(request: HttpRequest, caller: Caller) -> HttpResponse | dict[str, Any]:
    """POST /queries/validations: parse, resolve and translate without running; Rockset's ValidateQueryResponse."""
    request_data = _sql_part(json_body(request))
    try:
        translation = query_translate(
            organisation=caller.organisation,
            sql=request_data["sql"],
            parameters=request_data["parameters"],
            default_row_limit=request_data["default_row_limit"],
        )
    except QueryError as error:
        return query_error_response(error)
    return HttpResponse(
        dumps({"collections": translation.collections, "parameters": [p["name"] for p in request_data["parameters"]]}),
        content_type="application/json",
    )


# Kept queries


def query_list(request: HttpRequest, caller: Caller) -> list[dict[str, Any]]:
    """GET /queries: the organisation's queued and running queries, as Rockset listed its active ones."""
    active = Query.objects.for_organisation(caller.organisation).filter(status__in=Query.UNFINISHED)
    return [query_info(q) for q in active.select_related("user").order_by("submitted_at")[:1000]]


def query_get(request: HttpRequest, caller: Caller, query_id: str) -> dict[str, Any]:
    return query_info(_query(caller, query_id))


def query_delete(request: HttpRequest, caller: Caller, query_id: str) -> dict[str, Any]:
    """DELETE /queries/{id}: cancel it, stopping its database statement if it is running."""
    query = _query(caller, query_id)
    if not query_cancel(query=query):
        raise invalid(f"Query {query.query_id} has already finished ({query.status}); there is nothing to cancel.")
    return query_info(query)


def query_pages(request: HttpRequest, caller: Caller, query_id: str) -> HttpResponse:
    """GET /queries/{id}/pages?cursor=&docs=&offset=: Rockset's QueryPaginationResponse, one page read by
    position from the kept result."""
    query = _query(caller, query_id)
    if query.status in Query.UNFINISHED:
        raise invalid(f"Query {query.query_id} is {query.status}; its results can be read once it is COMPLETED.")
    if query.status != Query.Status.COMPLETED:
        return query_error_response(_query_error(query))
    if query.results_expired:
        raise not_found(f"The results of query {query.query_id} have expired; run it again.")
    start = _decode_cursor(request.GET.get("cursor")) + _whole(request, "offset", 0)
    docs = min(_whole(request, "docs", DEFAULT_PAGE_DOCS), MAX_PAGE_DOCS)
    texts = query_results_page(query=query, start=start, count=docs)
    body = {"results_total_doc_count": query.row_count, "pagination": _pagination(query, start, len(texts))}
    return _json(_prefix(body, texts))


def query_info(query: Query) -> dict[str, Any]:
    """Rockset's QueryInfo."""
    info: dict[str, Any] = {
        "query_id": str(query.query_id),
        "status": query.status,
        "executed_by": query.user.email or query.user.get_username(),
        "submitted_at": query.submitted_at.isoformat(),
        "sql": query.sql,
        "query_errors": [],
    }
    if query.status == Query.Status.COMPLETED:
        info["stats"] = {"elapsed_time_ms": query.elapsed_ms, "result_set_document_count": query.row_count}
        info["pagination"] = {"start_cursor": encode_cursor(0)}
        info["expires_at"] = query.expires_at.isoformat() if query.expires_at else None
    elif query.status in (Query.Status.ERROR, Query.Status.CANCELLED):
        error = _query_error(query)
        status = QUERY_STATUS_FOR_TYPE.get(error.type) or STATUS_FOR_TYPE.get(error.type, 400)
        info["query_errors"] = [{"type": error.type, "message": error.message, "status_code": status}]
    return info


def encode_cursor(position: int) -> str:
    """Opaque to the client, as Rockset's were: the position in the kept result."""
    return base64.urlsafe_b64encode(f"p{position}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if text[:1] == "p" and text[1:].isdigit():
            return int(text[1:])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise invalid("The `cursor` is not one this query returned; use `pagination.next_cursor` as it was given.")


def _whole(request: HttpRequest, name: str, default: int) -> int:
    text = request.GET.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit():
        raise invalid(f"Query parameter `{name}` must be a whole number, 0 or more.")
    return int(text)


def _pagination(query: Query, start: int, count: int) -> dict[str, Any]:
    end = start + count
    more = query.row_count is not None and end < query.row_count
    return {"start_cursor": encode_cursor(start), "current_page_doc_count": count,
            "next_cursor": encode_cursor(end) if more else None, "next_cursor_offset": None}  # fmt: skip


def _query(caller: Caller, query_id: str) -> Query:
    try:
        return Query.objects.for_organisation(caller.organisation).select_related("user").get(query_id=query_id)
    except (Query.DoesNotExist, ValidationError, ValueError):
        raise not_found(f"Query {query_id} not found.") from None


def _query_error(query: Query) -> QueryError:
    return QueryError(
        query.error_message, query.error_line, query.error_column, type_=query.error_type or "QUERY_ERROR"
    )


def _prefix(body: dict[str, Any], texts: list[str]) -> str:
    """The body with `results` spliced in from the kept documents' exact text, never decoded and re-encoded."""
    return dumps(body)[:-1] + ', "results": [' + ", ".join(texts) + "]}"


def _json(text: str) -> HttpResponse:
    response = HttpResponse(text, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response
