"""What SQLite lacks for Rockset's functions (regular expressions, splitting, calendars, percentiles), as
pure Python functions registered on the connection while a query runs. Each is deterministic, reads only
its arguments and touches nothing else, so the query stays read-only; the runner's authorizer lets a query
call these names and SQLite's own read-only functions only. Each answers as the PostgreSQL translation
does, so the conformance suite expects the same results on both databases."""

from __future__ import annotations

import calendar
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cmp_to_key, lru_cache, wraps
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ingest.convert import dumps

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ISO8601 = re.compile(
    r"^\s*\d{4}-\d{1,2}-\d{1,2}([T ]\d{1,2}:\d{1,2}(:\d{1,2}(\.\d{1,9})?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?\s*$"
)


@lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def regexp_like(text: Any, pattern: Any) -> int | None:
    if not isinstance(text, str) or not isinstance(pattern, str):
        return None
    return int(_pattern(pattern).search(text) is not None)


def regexp_extract(text: Any, pattern: Any, group: Any) -> str | None:
    if not isinstance(text, str) or not isinstance(pattern, str):
        return None
    match = _pattern(pattern).search(text)
    if match is None or not isinstance(group, int) or not 0 <= group <= (match.re.groups or 0):
        return None
    return match.group(group)


def split(text: Any, delimiter: Any) -> str | None:
    if not isinstance(text, str) or not isinstance(delimiter, str):
        return None
    return json.dumps(text.split(delimiter) if delimiter else list(text))


def _moment(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // timedelta(microseconds=1)


def _datetime(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def parse_iso(text: Any) -> int | None:
    """ISO 8601 text → microseconds since 1970 (UTC when it names no zone), as PostgreSQL's timestamptz."""
    if not isinstance(text, str) or not ISO8601.match(text):
        return None
    cleaned = text.strip().replace(" ", "T", 1) if "T" not in text else text.strip()
    head, dot, tail = cleaned.partition(".")
    if dot:  # Python reads at most 6 fractional digits; PostgreSQL rounds the rest
        digits = re.match(r"\d*", tail).group(0)  # type: ignore[union-attr]
        cleaned = f"{head}.{digits[:6].ljust(6, '0')}{tail[len(digits) :]}"
    try:
        return _moment(datetime.fromisoformat(cleaned.replace(" ", "")))
    except ValueError:
        return None


def micros(stored: Any) -> int | None:
    """Django's stored `event_time` text → microseconds."""
    if stored is None:
        return None
    return _moment(datetime.fromisoformat(str(stored)))


FIXED = {"microsecond": 1, "millisecond": 1_000, "second": 1_000_000, "minute": 60_000_000,
         "hour": 3_600_000_000, "day": 86_400_000_000}  # fmt: skip


def date_trunc(unit: str, value: Any) -> int | None:
    if value is None:
        return None
    value = int(value)
    if unit in FIXED:
        return value - value % FIXED[unit]
    moment = _datetime(value - value % FIXED["day"])
    if unit == "week":  # weeks start on Monday, as PostgreSQL's date_trunc has them
        return _moment(moment - timedelta(days=moment.weekday()))
    month = 1 if unit == "year" else moment.month - (moment.month - 1) % 3 if unit == "quarter" else moment.month
    return _moment(moment.replace(month=month, day=1))


def date_diff(unit: str, start: Any, end: Any) -> int | None:
    """Whole months (quarters, years) from start to end, as PostgreSQL's age() counts them."""
    if start is None or end is None:
        return None
    a, b = _datetime(int(start)), _datetime(int(end))
    sign = 1
    if b < a:
        a, b, sign = b, a, -1
    months = (b.year - a.year) * 12 + b.month - a.month
    if (b.day, b.time()) < (a.day, a.time()):
        months -= 1
    return sign * (months // {"month": 1, "quarter": 3, "year": 12}[unit])


def to_local(value: Any, zone: str) -> int | None:
    """The wall clock in `zone` at an instant, as microseconds (a Rockset datetime)."""
    if value is None:
        return None
    return _moment(_datetime(int(value)).astimezone(ZoneInfo(zone)).replace(tzinfo=UTC))


def from_local(value: Any, zone: str) -> int | None:
    """The instant a wall clock in `zone` shows (the earlier one where clocks go back, as PostgreSQL)."""
    if value is None:
        return None
    return _moment(_datetime(int(value)).replace(tzinfo=ZoneInfo(zone)))


def extract(part: str, value: Any) -> int | None:
    """EXTRACT's parts, as PostgreSQL's EXTRACT gives them (DAYOFWEEK: ISO, Monday = 1)."""
    if value is None:
        return None
    moment = _datetime(int(value))
    parts = {"MICROSECOND": moment.microsecond, "MILLISECOND": moment.microsecond // 1000, "SECOND": moment.second,
             "MINUTE": moment.minute, "HOUR": moment.hour, "DAY": moment.day, "DAYOFWEEK": moment.isoweekday(),
             "DAYOFYEAR": moment.timetuple().tm_yday, "WEEK": moment.isocalendar()[1], "MONTH": moment.month,
             "QUARTER": (moment.month - 1) // 3 + 1, "YEAR": moment.year}  # fmt: skip
    return parts[part]


def strftime(pattern: str, value: Any) -> str | None:
    if value is None or pattern is None:
        return None
    return _datetime(int(value)).strftime(pattern.replace("%Z", "UTC").replace("%z", "+0000"))


def to_number(text: Any, whole: int) -> int | float | None:
    """A string read as Rockset's CAST reads it: an int (whole) or a float, or NULL."""
    if not isinstance(text, str):
        return None
    try:
        return int(text.strip()) if whole else float(text.strip())
    except ValueError:
        return None


def _jsonb_text(value: Any) -> str:
    if isinstance(value, dict):  # jsonb keeps keys shortest first, then by their bytes
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return "{" + ", ".join(f"{json.dumps(k)}: {_jsonb_text(value[k])}" for k in keys) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_jsonb_text(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def json_format(text: Any) -> str | None:
    """JSON text written as PostgreSQL writes jsonb, so that JSON_FORMAT answers alike on both."""
    if text is None:
        return None
    return _jsonb_text(json.loads(text, parse_float=Decimal))


def _elements(text: Any) -> list[str] | None:
    """An array's elements as exact JSON text; None for anything but an array."""
    if text is None:
        return None
    value = json.loads(text, parse_float=Decimal)
    return [dumps(v) for v in value] if isinstance(value, list) else None


# ARRAY_DISTINCT and ARRAY_CONTAINS as functions: as subqueries over json_each they failed on SQLite when the
# array is an aggregate's (ARRAY_DISTINCT(ARRAY_AGG(x)) under GROUP BY: "misuse of aggregate").


def array_distinct(text: Any) -> str | None:
    elements = _elements(text)
    return None if elements is None else "[" + ",".join(dict.fromkeys(elements)) + "]"


def array_contains(text: Any, value: Any) -> int | None:
    elements = _elements(text)
    if elements is None or value is None:
        return None
    return int(dumps(json.loads(value, parse_float=Decimal)) in elements)


class Percentile:
    """APPROX_PERCENTILE(x, p): the smallest value whose cumulative share reaches p (percentile_disc)."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.share: float | None = None

    def step(self, value: Any, share: Any) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.values.append(value)
        self.share = share

    def finalize(self) -> Any:
        if not self.values or self.share is None:
            return None
        ordered = sorted(self.values)
        index = max(math.ceil(float(self.share) * len(ordered)) - 1, 0)
        return ordered[min(index, len(ordered) - 1)]


class OrderedArray:
    """ARRAY_AGG(x ORDER BY k1 [DESC], ...) on SQLite (ORDER BY inside an aggregate call came with SQLite
    3.44): step(x as JSON text, then per sort term its value, 1 if descending, 1 if NULLs first)."""

    def __init__(self) -> None:
        self.rows: list[tuple[tuple[Any, ...], str]] = []
        self.terms: list[tuple[bool, bool]] = []

    def step(self, value: Any, *terms: Any) -> None:
        if value is None:  # undefined: left out, as ARRAY_AGG leaves it out
            return
        self.terms = [(bool(terms[i + 1]), bool(terms[i + 2])) for i in range(0, len(terms), 3)]
        self.rows.append((tuple(terms[0::3]), value))

    def finalize(self) -> str | None:
        def compare(a: tuple[tuple[Any, ...], str], b: tuple[tuple[Any, ...], str]) -> int:
            for x, y, (descending, nulls_first) in zip(a[0], b[0], self.terms, strict=True):
                if x is None or y is None:
                    if x is None and y is None:
                        continue
                    return (-1 if x is None else 1) * (1 if nulls_first else -1)
                if x != y:
                    return (-1 if x < y else 1) * (-1 if descending else 1)
            return 0

        ordered = sorted(self.rows, key=cmp_to_key(compare))  # stable: ties keep the order they came in
        return "[" + ",".join(value for _, value in ordered) + "]" if ordered else None


def add_months(micros: int | None, months: int | None) -> int | None:
    """A time plus whole months, the day kept or, past the month's end, its last day (Jan 31 + 1 month is
    Feb 28 or 29), as PostgreSQL adds months."""
    if micros is None or months is None:
        return None
    moment = EPOCH + timedelta(microseconds=int(micros))
    index = moment.year * 12 + moment.month - 1 + int(months)
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    moved = moment.replace(year=year, month=month + 1, day=day)
    return (moved - EPOCH) // timedelta(microseconds=1)


FUNCTIONS = {
    "millrace_array_distinct": (1, array_distinct),
    "millrace_array_contains": (2, array_contains),
    "millrace_add_months": (2, add_months),
    "millrace_regexp_like": (2, regexp_like),
    "millrace_regexp_extract": (3, regexp_extract),
    "millrace_split": (2, split),
    "millrace_parse_iso": (1, parse_iso),
    "millrace_micros": (1, micros),
    "millrace_date_trunc": (2, date_trunc),
    "millrace_date_diff": (3, date_diff),
    "millrace_strftime": (2, strftime),
    "millrace_extract": (2, extract),
    "millrace_to_local": (2, to_local),
    "millrace_from_local": (2, from_local),
    "millrace_to_number": (2, to_number),
    "millrace_json_format": (1, json_format),
}
AGGREGATES = {"millrace_percentile": (2, Percentile), "millrace_ordered_array": (-1, OrderedArray)}


def _null_on_error(function: Callable[..., Any]) -> Callable[..., Any]:
    """A value a function can't read is NULL, as the PostgreSQL translation answers (never an exception,
    which SQLite would turn into an error for the whole query)."""

    @wraps(function)
    def safe(*arguments: Any) -> Any:
        try:
            return function(*arguments)
        except (ValueError, TypeError, OverflowError, re.error, KeyError, ZoneInfoNotFoundError):
            return None

    return safe


def cast_failed(value: Any) -> None:
    """CAST's failure on SQLite: an exception fails the statement, which run.py reports as CAST's."""
    raise ValueError(f"CAST could not convert {value!r}")


def register(raw: Any) -> None:
    """On a sqlite3 connection; cheap, and idempotent."""
    raw.create_function("millrace_cast_failed", 1, cast_failed)
    for name, (arity, function) in FUNCTIONS.items():
        raw.create_function(name, arity, _null_on_error(function), deterministic=True)
    for name, (arity, aggregate) in AGGREGATES.items():
        raw.create_aggregate(name, arity, aggregate)
