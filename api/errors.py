"""Rockset's error body for every failure under /v1/: JSON, never HTML, never a stack trace.

The official client turns the HTTP status into a typed exception (401 → UnauthorizedException, 404 →
NotFoundException, other 4xx → BadRequestException) and scripts read `type` and `message` from the body,
so both have to be Rockset's.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

log = logging.getLogger(__name__)

API_PREFIX = "/v1/"
MAX_BODY_BYTES = 1024 * 1024  # a collection or integration request is a few hundred bytes

STATUS_FOR_TYPE = {
    "INVALIDINPUT": 400,
    "DEPENDENTRESOURCES": 400,
    "AUTHEXCEPTION": 401,
    "FORBIDDEN": 403,
    "NOTFOUND": 404,
    "METHODNOTALLOWED": 405,
    "ALREADYEXISTS": 409,
    "RATELIMITEXCEEDED": 429,
    "INTERNALERROR": 500,
}
TYPE_FOR_STATUS = {
    400: "INVALIDINPUT",
    401: "AUTHEXCEPTION",
    403: "FORBIDDEN",
    404: "NOTFOUND",
    405: "METHODNOTALLOWED",
    409: "ALREADYEXISTS",
    413: "INVALIDINPUT",
    429: "RATELIMITEXCEEDED",
}


class ApiError(Exception):
    """A failure to report to the API caller; `type` is one of Rockset's ErrorModel types."""

    def __init__(self, type_: str, message: str) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message

    @property
    def status(self) -> int:
        return STATUS_FOR_TYPE.get(self.type, 400)


def invalid(message: str) -> ApiError:
    return ApiError("INVALIDINPUT", message)


def not_found(message: str) -> ApiError:
    return ApiError("NOTFOUND", message)


def error_response(type_: str, message: str, status: int | None = None, error_id: str = "") -> JsonResponse:
    """Rockset's body; `error_id` (also the trace_id) is the one the server's log names, when it logged."""
    error_id = error_id or uuid.uuid4().hex
    body = {"message": message, "type": type_, "line": None, "column": None, "trace_id": error_id, "error_id": error_id}
    return JsonResponse(body, status=status or STATUS_FOR_TYPE.get(type_, 400))


def _generic_message(request: HttpRequest, status: int) -> str:
    if status == 404:
        return f"Not found: there is no API endpoint at {request.path}."
    if status == 405:
        return f"Method not allowed: {request.method} is not served at {request.path}."
    return "The request could not be served."


class ApiErrorMiddleware:
    """Under /v1/: refuse oversized bodies before they are read, turn exceptions into INTERNALERROR with no
    details, and replace any non-JSON error Django renders (404, 405, 500 pages) with Rockset's body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        length_header = request.META.get("CONTENT_LENGTH") or "0"
        if not (length_header.isascii() and length_header.isdigit()):  # Django's int() of it would raise: a 500
            return error_response("INVALIDINPUT", "The Content-Length header must be a number of bytes.")
        length = int(length_header)
        if length > MAX_BODY_BYTES:
            return error_response(
                "INVALIDINPUT", f"The request body is {length:,} bytes; the limit is {MAX_BODY_BYTES:,} bytes."
            )
        response = self.get_response(request)
        is_json = response.get("Content-Type", "").startswith("application/json")
        if response.status_code >= 400 and not is_json:
            status = response.status_code
            type_ = TYPE_FOR_STATUS.get(status, "INTERNALERROR" if status >= 500 else "INVALIDINPUT")
            error_id = uuid.uuid4().hex
            if status >= 500:
                log.error("API request %s %s answered %s (error_id=%s trace_id=%s)",
                          request.method, request.path, status, error_id, error_id,
                          extra={"trace_id": error_id})  # fmt: skip
            return error_response(type_, _generic_message(request, status), status, error_id)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(API_PREFIX):
            return None
        if isinstance(exception, ApiError):
            return error_response(exception.type, exception.message, exception.status)
        if isinstance(exception, Http404):
            return error_response("NOTFOUND", str(exception) or _generic_message(request, 404), 404)
        # The client gets these ids in the body; the log names them, so a report can be matched to its trace.
        error_id = uuid.uuid4().hex
        log.exception(
            "API request %s %s failed (error_id=%s trace_id=%s)", request.method, request.path, error_id, error_id,
            extra={"trace_id": error_id},
        )  # fmt: skip
        return error_response(
            "INTERNALERROR",
            f"Millrace failed to serve this request; the error is logged on the server as {error_id}.",
            500,
            error_id,
        )
