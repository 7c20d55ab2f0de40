"""Rockset's query API: reading a QueryRequest, shaping a QueryResponse, and QueryError as Rockset's error.

The response is written with the documents' exact JSON writer, not Django's encoder: a 38-digit number in
a document, or a SUM of them, must reach the client with every digit (DjangoJSONEncoder would send a
Decimal as a string)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from api.auth import Caller
from api.body import field, json_body, only_known, unsupported
from api.errors import STATUS_FOR_TYPE, invalid
from ingest.convert import dumps
from queries.errors import QueryError
from queries.services import MAX_TIMEOUT_MS, query_run, query_translate

REQUEST_FIELDS = {"sql", "async", "async_options", "debug_threshold_ms", "max_initial_results", "timeout_ms"}
SQL_FIELDS = {"query", "parameters", "default_row_limit", "initial_paginate_response_doc_count"}
QUERY_STATUS_FOR_TYPE = {"QUERY_TIMEOUT": 408, "QUERY_ERROR": 400, "RESOURCEEXCEEDED": 400}


def query_error_response(error: QueryError) -> JsonResponse:
    status = QUERY_STATUS_FOR_TYPE.get(error.type) or STATUS_FOR_TYPE.get(error.type, 400)
    error_id = uuid.uuid4().hex
    body = {"message": error.message, "type": error.type, "line": error.line, "column": error.column,
            "trace_id": error_id, "error_id": error_id}  # fmt: skip
    return JsonResponse(body, status=status)


def _sql_part(data: dict[str, Any]) -> dict[str, Any]:
    only_known(data, REQUEST_FIELDS)
    unsupported(data, ["async", "async_options", "max_initial_results"], why=" yet: queries run synchronously")
    sql = field(data, "sql", dict, required=True)
    only_known(sql, SQL_FIELDS, "sql")
    field(sql, "query", str, prefix="sql", required=True, max_length=100_000)
    parameters = field(sql, "parameters", list, prefix="sql") or []
    for index, parameter in enumerate(parameters):
        where = f"sql.parameters[{index}]"
        if not isinstance(parameter, dict):
            raise invalid(f"Field `{where}` must be an object with `name`, `type` and `value`.")
        only_known(parameter, {"name", "type", "value"}, where)
        field(parameter, "name", str, prefix=where, required=True, max_length=200)
        field(parameter, "type", str, prefix=where, required=True, max_length=20)
        if isinstance(parameter.get("value"), (dict, list)):
            raise invalid(f"Field `{where}.value` must be a string, number, boolean or null.")
    limit = field(sql, "default_row_limit", int, prefix="sql")
    if limit is not None and limit < 0:
        raise invalid("Field `sql.default_row_limit` must be 0 or more.")
    timeout = field(data, "timeout_ms", int)
    if timeout is not None and not 1 <= timeout <= MAX_TIMEOUT_MS:
        raise invalid(f"Field `timeout_ms` must be between 1 and {MAX_TIMEOUT_MS:,}.")
    return {"sql": sql["query"], "parameters": parameters, "default_row_limit": limit, "timeout_ms": timeout}


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, (float, Decimal)):
        return "float"
    return {str: "string", dict: "object", list: "array"}.get(type(value), "string")


def query_create(request: HttpRequest, caller: Caller) -> HttpResponse:
    """POST /queries: run now, answer with the whole result (async and paging are not built yet)."""
    request_data = _sql_part(json_body(request))
    try:
        outcome = query_run(organisation=caller.organisation, **request_data)
    except QueryError as error:
        return query_error_response(error)
    results = outcome.rows.results
    names = [n for n in outcome.rows.column_names if n != "*"]
    columns = [{"name": n, "type": _type_of(next((r[n] for r in results if r.get(n) is not None), None))}
               for n in names]  # fmt: skip
    body = {
        "query_id": str(uuid.uuid4()),
        "status": "COMPLETED",
        "collections": outcome.collections,
        "column_fields": columns,
        "results": results,
        "results_total_doc_count": len(results),
        "stats": {"elapsed_time_ms": outcome.elapsed_ms, "throttled_time_micros": 0},
        "query_errors": [],
        "warnings": outcome.warnings,
    }
    response = HttpResponse(dumps(body), content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


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
