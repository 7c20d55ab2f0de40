"""Rockset's functions, with the answers Rockset's documentation gives where it has an example (those are
written as the documentation writes them, without a FROM), on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ingest import clock
from queries.errors import QueryError
from tests.queries.sample import add_collection

EVENTS = [
    {"id": "e1", "at": "2024-03-15T10:30:45.123456Z", "ms": 1710498645123, "csv": "a,b,c", "nested": [[1, 2], [3], 4],
     "dup": [1, 2, 1, "x", "x", True, True], "flag": True, "n": Decimal("2.567"), "text": "order-1234-x", "num": "42",
     "obj": {"baz": [1, 2, 3], "bar": "hello world", "foo": 25}},
    {"id": "e2", "at": "2024-01-01 00:00:00", "ms": 0, "csv": "", "flag": False, "n": Decimal("-2.5"), "text": "none",
     "num": "4.5", "dup": []},
    {"id": "e3", "at": "not a time", "flag": "yes", "n": "x", "num": "x1"},
]  # fmt: skip


@pytest.fixture
def events(orders):
    add_collection(orders.acme, "commons", "events", EVENTS)
    return orders


one = lambda **values: [values]  # noqa: E731

CASES = [
    # Arrays, as in Rockset's documentation
    ("SELECT ARRAY_CREATE(5, 'hello', null) AS a", one(a=[5, "hello", None])),
    ("SELECT ARRAY_CREATE() AS a", one(a=[])),
    ("SELECT [1, 2, 3] AS a", one(a=[1, 2, 3])),
    ("SELECT ARRAY_REMOVE(ARRAY_CREATE(3, 1, 2), 1) AS a", one(a=[3, 2])),
    ("SELECT ARRAY_REMOVE(ARRAY_CREATE('a', 'b', 'c'), 'c') AS a", one(a=["a", "b"])),
    ("SELECT ARRAY_REMOVE(ARRAY_CREATE(3, 1.6, -0.83, 1.6), 1.6) AS a", one(a=[3, Decimal("-0.83")])),
    ("SELECT ARRAY_REMOVE(ARRAY_CREATE(3, 3, 3), 3) AS a", one(a=[])),
    ("SELECT LENGTH(ARRAY_CREATE()) AS a, LENGTH(ARRAY_CREATE(1, 2, 'hello', null)) AS b, LENGTH(null) AS c",
     one(a=0, b=4, c=None)),
    ("SELECT ELEMENT_AT(obj, 'foo') AS a, ELEMENT_AT(obj, 'bar') AS b, ELEMENT_AT(obj, 'baz') AS c, "
     "ELEMENT_AT(obj, 'abc') AS d FROM events WHERE _id = 'e1'", one(a=25, b="hello world", c=[1, 2, 3])),
    # Arrays of the documents
    ("SELECT ELEMENT_AT(nested, 1) AS a, ELEMENT_AT(nested, -1) AS b, ELEMENT_AT(SPLIT(csv, ','), 2) AS c, "
     "ELEMENT_AT(nested, 9) AS d FROM events WHERE _id = 'e1'", one(a=[1, 2], b=4, c="b")),
    ("SELECT SPLIT(csv, ',') AS a, ARRAY_CONTAINS(SPLIT(csv, ','), 'b') AS b, ARRAY_CONTAINS(dup, 'y') AS c, "
     "ARRAY_CONTAINS(dup, 2) AS d, ARRAY_CONTAINS(text, 'o') AS e FROM events WHERE _id = 'e1'",
     one(a=["a", "b", "c"], b=True, c=False, d=True, e=None)),
    ("SELECT ARRAY_DISTINCT(dup) AS a, ARRAY_FLATTEN(nested) AS b, ARRAY_JOIN(SPLIT(csv, ','), '-') AS c, "
     "ARRAY_JOIN(ARRAY_CREATE('x', null, 'y'), '/', '?') AS d, ARRAY_LENGTH(dup) AS e, CARDINALITY(nested) AS f "
     "FROM events WHERE _id = 'e1'",
     one(a=[1, 2, "x", True], b=[1, 2, 3, 4], c="a-b-c", d="x/?/y", e=7, f=3)),
    ("SELECT _id, ARRAY_DISTINCT(dup) AS a, ARRAY_JOIN(dup, ',') AS j FROM events ORDER BY _id",
     [{"_id": "e1", "a": [1, 2, "x", True], "j": "1,2,1,x,x,true,true"}, {"_id": "e2", "a": [], "j": ""},
      {"_id": "e3", "j": None}]),
    ("SELECT status, ARRAY_AGG(_id) AS ids FROM orders WHERE status = 'cancelled' GROUP BY status",
     one(status="cancelled", ids=["4"])),
    ("SELECT ARRAY_AGG(note) AS notes, ARRAY_AGG(tags) AS tags FROM orders WHERE _id IN ('1', '3')",
     one(notes=[None], tags=[["a", "b"]])),
    # CAST, as in Rockset's table of casts
    ("SELECT CAST(10 as float) AS a, CAST(0 as bool) AS b, CAST(10 as string) AS c, CAST(true AS int) AS d, "
     "CAST(true as float) AS e, CAST(true as string) AS f, CAST(2.5 as int) AS g, CAST(2.5 as bool) AS h, "
     "CAST(2.5 as string) AS i, CAST('2' AS int) AS j, CAST('2.5' as float) AS k, CAST('false' as bool) AS l, "
     "CAST('2018-05-26' AS date) AS m, CAST('2018-05-26 10:30:20.345Z' as timestamp) AS n",
     one(a=10, b=False, c="10", d=1, e=1, f="true", g=2, h=True, i="2.5", j=2, k=Decimal("2.5"), l=False,
         m="2018-05-26", n="2018-05-26T10:30:20.345000Z")),
    # Numbers, as in Rockset's mathematical functions
    ("SELECT ROUND(2.4) AS a, ROUND(2.6) AS b, ROUND(3) AS c, FLOOR(2.6) AS d, CEIL(2.4) AS e, TRUNC(-2.4) AS f, "
     "TRUNCATE(2.6) AS g, CEILING(3) AS h, ABS(-5) AS i, ABS(null) AS j, GREATEST(1) AS k, GREATEST(1, 2, 3) AS l, "
     "GREATEST(1, null, 3) AS m", one(a=2, b=3, c=3, d=2, e=3, f=-2, g=2, h=3, i=5, j=None, k=1, l=3, m=None)),
    # CAST and TRY_CAST: what doesn't convert is null
    # (TRY_CAST where some value doesn't convert: CAST would fail the query, see test_dialect_more.py)
    ("SELECT CAST(ms AS string) AS a, CAST(n AS string) AS b, CAST(flag AS string) AS c, TRY_CAST(num AS int) AS d, "
     "TRY_CAST(num AS float) AS e, TRY_CAST(n AS int) AS f, TRY_CAST(flag AS int) AS g FROM events ORDER BY _id",
     [{"a": "1710498645123", "b": "2.567", "c": "true", "d": 42, "e": 42, "f": 2, "g": 1},
      {"a": "0", "b": "-2.5", "c": "false", "d": None, "e": Decimal("4.5"), "f": -2, "g": 0},
      {"a": None, "b": "x", "c": "yes", "d": None, "e": None, "f": None, "g": None}]),
    ("SELECT CAST(flag AS bool) AS a, CAST('TRUE' AS boolean) AS b, CAST(0 AS bool) AS c, CAST(1 AS string) AS d, "
     "TRY_CAST('x' AS int) AS e FROM events WHERE _id = 'e2'", one(a=False, b=True, c=False, d="1", e=None)),
    # Strings and regular expressions
    ("SELECT STRPOS(text, '-') AS a, STRPOS(text, 'zz') AS b, REGEXP_LIKE(text, '^order-[0-9]+') AS c, "
     "REGEXP_EXTRACT(text, '[0-9]+') AS d, REGEXP_EXTRACT(text, '([a-z]+)-([0-9]+)', 2) AS e, "
     "REGEXP_EXTRACT(text, 'q+') AS f FROM events WHERE _id = 'e1'", one(a=6, b=0, c=True, d="1234", e="1234", f=None)),
    ("SELECT _id FROM events WHERE REGEXP_LIKE(text, 'o') ORDER BY _id", [{"_id": "e1"}, {"_id": "e2"}]),
    # Numbers
    ("SELECT ROUND(n) AS a, ROUND(n, 2) AS b, TRUNC(n) AS c, FLOOR(n) AS d, CEIL(n) AS e, ABS(n) AS f "
     "FROM events ORDER BY _id LIMIT 2",
     [{"a": 3, "b": Decimal("2.57"), "c": 2, "d": 2, "e": 3, "f": Decimal("2.567")},
      {"a": -3, "b": Decimal("-2.5"), "c": -2, "d": -3, "e": -2, "f": Decimal("2.5")}]),
    ("SELECT GREATEST(1, 5, 3) AS a, LEAST(1, 5, 3) AS b, GREATEST(1, null) AS c, GREATEST('a', 'b') AS d, "
     "7 / 2 AS e, 1 / 0 AS f, 7 % 3 AS g, IS_NAN(1) AS h, NULLIF(1, 1) AS i, NULLIF(1, 2) AS j",
     one(a=5, b=1, c=None, d="b", e=Decimal("3.5"), f=None, g=1, h=False, i=None, j=1)),
    ("SELECT ROUND(AVG(amount), 1) AS a FROM orders", one(a=Decimal("20.1"))),
    # Types and JSON
    ("SELECT TYPEOF(ms) AS a, TYPEOF(n) AS b, TYPEOF(flag) AS c, TYPEOF(text) AS d, TYPEOF(obj) AS e, "
     "TYPEOF(nested) AS f, TYPEOF(nope) AS g, TYPEOF(1) AS h, TYPEOF('s') AS i FROM events WHERE _id = 'e1'",
     one(a="int", b="float", c="bool", d="string", e="object", f="array", g="undefined", h="int", i="string")),
    ("SELECT TYPEOF(note) AS a FROM orders WHERE _id = '1'", one(a="null")),
    ("SELECT JSON_PARSE('{\"a\": [1, 2.5, \"x\"]}') AS a, JSON_FORMAT(ARRAY_CREATE(1, 'x', true)) AS b, "
     "JSON_FORMAT(tags) AS c, ELEMENT_AT(JSON_PARSE('[10, 20]'), 2) AS d FROM orders WHERE _id = '1'",
     one(a={"a": [1, Decimal("2.5"), "x"]}, b='[1, "x", true]', c='["a", "b"]', d=20)),
    # Aggregates
    ("SELECT BOOL_AND(flag) AS a, BOOL_OR(flag) AS b FROM events", one(a=False, b=True)),
    ("SELECT APPROX_DISTINCT(status) AS a, APPROX_PERCENTILE(amount, 0.5) AS b, ARBITRARY(status) IS NOT NULL AS c "
     "FROM orders", one(a=3, b=10, c=True)),
    # Times: parsed, truncated, compared, formatted, as Rockset writes them
    ("SELECT PARSE_TIMESTAMP_ISO8601(at) AS a, PARSE_DATETIME_ISO8601(at) AS b, TIMESTAMP_MILLIS(ms) AS c "
     "FROM events ORDER BY _id",
     [{"a": "2024-03-15T10:30:45.123456Z", "b": "2024-03-15T10:30:45.123456", "c": "2024-03-15T10:30:45.123000Z"},
      {"a": "2024-01-01T00:00:00.000000Z", "b": "2024-01-01T00:00:00.000000", "c": "1970-01-01T00:00:00.000000Z"},
      {"a": None, "b": None, "c": None}]),
    ("SELECT DATE_TRUNC('hour', PARSE_TIMESTAMP_ISO8601(at)) AS h, "
     "DATE_TRUNC('MONTH', PARSE_TIMESTAMP_ISO8601(at)) AS m, DATE_TRUNC('week', PARSE_TIMESTAMP_ISO8601(at)) AS w, "
     "DATE_TRUNC('year', PARSE_TIMESTAMP_ISO8601(at)) AS y, "
     "DATE_TRUNC('day', _event_time) AS d FROM events WHERE _id = 'e1'",
     one(h="2024-03-15T10:00:00.000000Z", m="2024-03-01T00:00:00.000000Z", w="2024-03-11T00:00:00.000000Z",
         y="2024-01-01T00:00:00.000000Z", d="2026-01-01T00:00:00.000000Z")),
    ("SELECT DATE_DIFF('SECOND', PARSE_TIMESTAMP_ISO8601('2024-01-01T00:00:00Z'), PARSE_TIMESTAMP_ISO8601(at)) AS s, "
     "DATE_DIFF('day', PARSE_TIMESTAMP_ISO8601(at), PARSE_TIMESTAMP_ISO8601('2024-01-01T00:00:00Z')) AS d, "
     "DATE_DIFF('month', PARSE_TIMESTAMP_ISO8601('2024-01-31T00:00:00Z'), PARSE_TIMESTAMP_ISO8601(at)) AS m, "
     "DATE_DIFF('minute', PARSE_TIMESTAMP_ISO8601(at), _event_time) / 60.0 > 1000 AS h "
     "FROM events WHERE _id = 'e1'", one(s=6431445, d=-74, m=1, h=True)),
    ("SELECT EXTRACT(YEAR FROM t) AS y, EXTRACT(QUARTER FROM t) AS q, EXTRACT(MONTH FROM t) AS mo, "
     "EXTRACT(DAY FROM t) AS d, EXTRACT(DAYOFWEEK FROM t) AS dow, EXTRACT(DAYOFYEAR FROM t) AS doy, "
     "EXTRACT(HOUR FROM t) AS h, EXTRACT(MINUTE FROM t) AS mi, EXTRACT(SECOND FROM t) AS s, "
     "EXTRACT(MILLISECOND FROM t) AS ms, EXTRACT(MICROSECOND FROM t) AS us FROM (SELECT "
     "PARSE_TIMESTAMP_ISO8601(at) AS t FROM events WHERE _id = 'e1') AS x",
     one(y=2024, q=1, mo=3, d=15, dow=5, doy=75, h=10, mi=30, s=45, ms=123, us=123456)),
    ("SELECT EXTRACT(SECOND FROM PARSE_TIMESTAMP_ISO8601('2024-01-01T00:00:45.9Z')) AS s", one(s=45)),
    ("SELECT FORMAT_ISO8601(PARSE_TIMESTAMP_ISO8601(at)) AS a, FORMAT_TIMESTAMP('%Y/%m/%d %H:%M at %%', "
     "PARSE_TIMESTAMP_ISO8601(at)) AS b, UNIX_MILLIS(PARSE_TIMESTAMP_ISO8601(at)) AS c FROM events WHERE _id = 'e1'",
     one(a="2024-03-15T10:30:45.123456Z", b="2024/03/15 10:30 at %", c=1710498645123)),
    ("SELECT _id FROM events WHERE PARSE_TIMESTAMP_ISO8601(at) > PARSE_TIMESTAMP_ISO8601('2024-02-01T00:00:00Z') "
     "- DAYS(1) + HOURS(2) - MINUTES(3)", [{"_id": "e1"}]),
    ("SELECT _id FROM events WHERE _event_time > CURRENT_TIMESTAMP() - INTERVAL 1 DAY ORDER BY _id",
     [{"_id": "e1"}, {"_id": "e2"}, {"_id": "e3"}]),
    # A string where a time is expected is read as ISO 8601 (DynamoDB has no time type)
    ("SELECT _id, DATE_TRUNC('month', at) AS m FROM events WHERE at >= '2024-02-01T00:00:00Z' OR _event_time < "
     "'2020-01-01' ORDER BY _id", [{"_id": "e1", "m": "2024-03-01T00:00:00.000000Z"}, {"_id": "e3", "m": None}]),
    # Time zones: AT TIME ZONE between instants and wall clocks, and the zone arguments
    ("SELECT PARSE_TIMESTAMP_ISO8601(at) AT TIME ZONE 'America/New_York' AS local, "
     "PARSE_DATETIME_ISO8601('2024-03-15 06:30:00') AT TIME ZONE 'America/New_York' AS instant, "
     "FORMAT_TIMESTAMP('%H:%M %d/%m', PARSE_TIMESTAMP_ISO8601(at), 'Asia/Kolkata') AS india, "
     "DATE_TRUNC('day', PARSE_TIMESTAMP_ISO8601('2024-03-15T02:00:00Z'), 'America/Los_Angeles') AS la_day, "
     "FORMAT_ISO8601(DATE_TRUNC('day', PARSE_TIMESTAMP_ISO8601(at) AT TIME ZONE 'Europe/Oslo')) AS oslo_day "
     "FROM events WHERE _id = 'e1'",
     one(local="2024-03-15T06:30:45.123456", instant="2024-03-15T10:30:00.000000Z", india="16:00 15/03",
         la_day="2024-03-14T07:00:00.000000Z", oslo_day="2024-03-15T00:00:00.000000")),
    ("SELECT CURRENT_TIMESTAMP() AS a, CURRENT_DATE() AS b, CURRENT_DATETIME() AS c, "
     "CAST(CURRENT_TIMESTAMP() AS date) AS d, CAST('2024-03-15T10:30:45Z' AS timestamp) AS e, "
     "TYPEOF(CURRENT_DATE()) AS f",
     one(a="2026-01-01T12:30:00.000000Z", b="2026-01-01", c="2026-01-01T12:30:00.000000", d="2026-01-01",
         e="2024-03-15T10:30:45.000000Z", f="date")),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "expected"), CASES, ids=[c[0][:70] for c in CASES])
def test_functions_answer_as_rockset_does(run, events, monkeypatch, sql, expected):
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 1, 1, 12, 30, tzinfo=UTC))
    assert run(sql) == expected


def test_time_parameters_are_times(run, events):
    parameters = [{"name": "since", "type": "timestamp", "value": "2024-02-01T00:00:00Z"},
                  {"name": "day", "type": "date", "value": "2024-03-15"}]  # fmt: skip
    sql = "SELECT _id, :day AS day FROM events WHERE PARSE_TIMESTAMP_ISO8601(at) > :since"
    assert run(sql, parameters) == [{"_id": "e1", "day": "2024-03-15"}]


def test_a_date_unit_can_be_a_parameter(run, events):
    parameters = [{"name": "granularity", "type": "string", "value": "day"}]
    sql = "SELECT DATE_TRUNC(:granularity, PARSE_TIMESTAMP_ISO8601(at)) AS t FROM events WHERE _id = 'e1'"
    assert run(sql, parameters) == [{"t": "2024-03-15T00:00:00.000000Z"}]


@pytest.mark.parametrize(
    ("sql", "message", "where"),
    [
        ("SELECT\n  DATE_TRUNC('fortnight', _event_time) FROM events", "Unknown time unit", (2, 27)),
        ("SELECT ELEMENT_AT(tags) FROM orders", "ELEMENT_AT takes 2 argument(s)", (1, 19)),
        ("SELECT _id FROM orders WHERE _event_time > 5", "not a num; a number of milliseconds", (1, 30)),
        ("SELECT DATE_TRUNC('day', _event_time, 'Mars/Olympus') FROM orders", "Unknown time zone", (1, 26)),
        ("SELECT CAST(status AS varbinary) FROM orders", "not supported", (1, 13)),
        ("SELECT FORMAT_TIMESTAMP('%Q', _event_time) FROM orders", "%Q is not supported", (None, None)),
        ("SELECT LEVENSHTEINISH(status, 'x') FROM orders", "LEVENSHTEINISH is not supported", (1, 23)),
    ],
)
def test_what_cant_be_translated_says_what_and_where(run, events, sql, message, where):
    with pytest.raises(QueryError) as error:
        run(sql)
    assert message in error.value.message
    assert (error.value.line, error.value.column) == where
