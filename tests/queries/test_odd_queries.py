"""Queries nobody should write, but someone will: each is answered or refused with a QueryError, never a
stack trace, on both databases."""

from __future__ import annotations

import pytest

from queries.errors import QueryError
from queries.translate import translate, typed_parameter

FUNCTIONS = ["CAST(x AS int)", "TRY_CAST(tags AS string)", "PARSE_TIMESTAMP_ISO8601", "DATE_TRUNC", "DATE_DIFF",
             "FORMAT_ISO8601", "FORMAT_TIMESTAMP", "TIMESTAMP_MILLIS", "CURRENT_TIMESTAMP", "HOURS", "SPLIT",
             "ARRAY_CONTAINS", "ELEMENT_AT", "ARRAY_AGG", "ARRAY_CREATE", "REGEXP_EXTRACT", "REGEXP_LIKE", "STRPOS",
             "ROUND", "TRUNC", "FLOOR", "CEIL", "GREATEST", "LEAST", "ARBITRARY", "TYPEOF", "BOOL_AND", "JSON_PARSE",
             "JSON_FORMAT", "NULLIF", "ARRAY_REMOVE", "ARRAY_FLATTEN", "ARRAY_DISTINCT", "ARRAY_JOIN", "IS_NAN",
             "APPROX_DISTINCT", "APPROX_PERCENTILE", "CONCAT", "IF", "SUM", "LENGTH", "COUNT_IF", "REPLACE", "MAX",
             "SUBSTR", "COALESCE", "CARDINALITY", "STARTS_WITH", "UNIX_MILLIS", "LAG", "NTH_VALUE"]  # fmt: skip
ARGUMENTS = ["()", "(NULL)", "('x')", "(1, 2, 3, 4)", "(tags)", "(customer, 'y')", "(_event_time, _id)",
             "('day', _event_time, 'UTC')", "(tags, 1.5)", "(:p)"]  # fmt: skip
PLACES = ["SELECT {} AS v FROM orders", "SELECT _id FROM orders WHERE {} = 1",
          "SELECT {} OVER (ORDER BY _id) FROM orders", "SELECT * FROM orders CROSS JOIN UNNEST({} AS x)"]  # fmt: skip
ODD = [
    f"{function}{arguments}" if "(" not in function else function for function in FUNCTIONS for arguments in ARGUMENTS
]


@pytest.mark.parametrize("vendor", ["postgresql", "sqlite"])
def test_any_call_translates_or_is_refused_plainly(vendor):
    parameters = {"p": typed_parameter("p", "string", "day")}
    for call in dict.fromkeys(ODD):
        for place in PLACES:
            try:
                translate(place.format(call), vendor=vendor, resolve=lambda workspace, name: 1, parameters=parameters)
            except QueryError as error:
                assert error.type != "INTERNALERROR", (place.format(call), error.message)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT SUM(NULL) AS a, AVG(NULL) AS b, MAX(NULL) AS c, ARRAY_AGG(NULL) AS d, ARBITRARY(NULL) AS e FROM orders",
        "SELECT GREATEST(NULL) AS a, COALESCE(status) AS b, TYPEOF(NULL) AS c, LOWER(1) AS d FROM orders",
        "SELECT _id FROM orders WHERE status = 1 OR amount = 'x' OR TYPEOF(NULL) = 1 ORDER BY ARBITRARY(NULL)",
        "SELECT CEIL(amount, 1) AS a, FLOOR(amount, 1) AS b, REPLACE(1, NULL) AS c, SPLIT(amount, 2) AS d FROM orders",
        "SELECT GREATEST(_event_time, _id) AS v FROM orders UNION ALL SELECT 1 FROM orders",
        "SELECT MAX(NULL) AS v FROM orders UNION ALL SELECT 1 FROM orders",
        "SELECT REGEXP_EXTRACT(status, '(', 1) AS a, DATE_TRUNC('day', status) AS b FROM orders",
    ],
)
def test_odd_values_are_null_or_a_plain_error(run, sql):
    try:
        run(sql)
    except QueryError as error:
        assert error.type != "INTERNALERROR", error.message


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT CEIL() FROM orders", "CEIL is missing an argument"),
        ("SELECT JSON_FORMAT() FROM orders", "missing an argument"),
        ("SELECT SUBSTR(status) FROM orders", "SUBSTR needs a start position"),
        ("SELECT COUNT_IF(LENGTH(status)) FROM orders", "A condition is expected here, not a num"),
        ("SELECT COUNT(DISTINCT status) OVER () FROM orders", "DISTINCT in a window function is not supported"),
        ("SELECT _id FROM orders WHERE 1", "A condition is expected here, not a num"),
    ],
)
def test_a_mistake_is_named(run, sql, message):
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(sql)
