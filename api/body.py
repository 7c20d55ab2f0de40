"""Reading a JSON request body with the checks Rockset's server made: every failure names the field.

Only types and shapes are checked here; what a value means (a role ARN, a table that exists, an RCU
budget within the table's capacity) is checked by the console's own forms, so the rules live once.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from api.errors import MAX_BODY_BYTES, invalid
from console.validators import control_character_error

JSON_TYPES = {str: "a string", bool: "true or false", int: "an integer", dict: "an object", list: "an array"}


def json_body(request: HttpRequest, *, required: bool = True) -> dict[str, Any]:
    try:
        raw = request.body
    except RequestDataTooBig as exc:  # a chunked body with no Content-Length for the middleware to check
        raise invalid(f"The request body is over the limit of {MAX_BODY_BYTES:,} bytes.") from exc
    if len(raw) > MAX_BODY_BYTES:
        raise invalid(f"The request body is {len(raw):,} bytes; the limit is {MAX_BODY_BYTES:,} bytes.")
    if not raw.strip():
        if required:
            raise invalid("The request body is empty; send a JSON object.")
        return {}
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise invalid(f"The request body is not valid JSON: {exc}.") from exc
    except RecursionError as exc:  # arrays or objects nested thousands deep: no request of ours needs that
        raise invalid("The request body is nested too deeply; Millrace's requests are a few levels deep.") from exc
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object.")
    return data


def where(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def only_known(obj: dict[str, Any], allowed: set[str], prefix: str = "") -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise invalid(f"Unknown field `{where(prefix, unknown[0])}`; allowed here: {', '.join(sorted(allowed))}.")


def field(
    obj: dict[str, Any],
    key: str,
    kind: type,
    *,
    prefix: str = "",
    required: bool = False,
    max_length: int | None = None,
    choices: list[str] | None = None,
) -> Any:
    """The value of obj[key] checked against a JSON type; None when absent (or null) and not required."""
    name = where(prefix, key)
    value = obj.get(key)
    if value is None:
        if required:
            raise invalid(f"Missing field `{name}`.")
        return None
    # bool is an int in Python; JSON true is not a number.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise invalid(f"Field `{name}` must be {JSON_TYPES[kind]}, not {json.dumps(value)[:60]}.")
    if kind is str and max_length is not None and len(value) > max_length:
        raise invalid(f"Field `{name}` is {len(value)} characters long; at most {max_length} are allowed.")
    if kind is str and (message := control_character_error(value)):
        raise invalid(f"Field `{name}`: {message}")
    if choices is not None and value not in choices:
        raise invalid(f"Field `{name}` must be one of {', '.join(choices)}; got {json.dumps(value)[:60]}.")
    return value


def unsupported(obj: dict[str, Any], keys: list[str], prefix: str = "", why: str = "") -> None:
    """Rockset features Millrace doesn't have: refuse them rather than silently ignore them."""
    for key in keys:
        if obj.get(key) not in (None, [], {}):
            raise invalid(f"Field `{where(prefix, key)}` is not supported by Millrace{why}.")
