"""More of Rockset's dialect: JOIN ... USING, named windows, ARRAY_AGG(x ORDER BY y), LIKE ... ESCAPE,
month and year intervals, CAST that fails where Rockset's fails (TRY_CAST null instead), array functions
over ARRAY_AGG under GROUP BY, and WITH RECURSIVE, which Rockset's SQL doesn't have. The same expectations
on SQLite and PostgreSQL; where Rockset's documentation gives an example, its answer."""

from __future__ import annotations

import pytest

from queries.errors import QueryError

ids = lambda *values: [{"_id": v} for v in values]  # noqa: E731

CASES = [
    # JOIN ... USING: the same field equal on both sides
    ("SELECT a._id, b._id AS other FROM orders a JOIN orders b USING (status) WHERE a._id = '1' ORDER BY other",
     [{"_id": "1", "other": "1"}, {"_id": "1", "other": "2"}]),
    ("SELECT o._id, c.city FROM orders o LEFT JOIN customers c USING (id) WHERE o._id = '1'", [{"_id": "1"}]),
    ("SELECT a._id FROM orders a JOIN orders b USING (status, amount) ORDER BY a._id", ids("1", "2", "3", "4", "5")),
    # Named windows, one definition for several functions
    ("SELECT _id, ROW_NUMBER() OVER w AS n FROM orders WINDOW w AS (PARTITION BY status ORDER BY _id) ORDER BY _id",
     [{"_id": "1", "n": 1}, {"_id": "2", "n": 2}, {"_id": "3", "n": 1}, {"_id": "4", "n": 1}, {"_id": "5", "n": 2}]),
    ("SELECT _id, RANK() OVER w AS r, COUNT(*) OVER w AS c FROM orders WHERE status = 'shipped' "
     "WINDOW w AS (ORDER BY _id) ORDER BY _id", [{"_id": "1", "r": 1, "c": 1}, {"_id": "2", "r": 2, "c": 2}]),
    # ARRAY_AGG(x ORDER BY y)
    ("SELECT ARRAY_AGG(_id ORDER BY _id DESC) AS a FROM orders", [{"a": ["5", "4", "3", "2", "1"]}]),
    ("SELECT status, ARRAY_AGG(customer.name ORDER BY amount DESC) AS names FROM orders WHERE _id <> '5' "
     "GROUP BY status ORDER BY status",
     [{"status": "cancelled", "names": ["Dan"]}, {"status": "pending", "names": ["cat"]},
      {"status": "shipped", "names": ["Bob", "Ann"]}]),
    ("SELECT ARRAY_AGG(amount ORDER BY amount) AS a FROM orders", [{"a": [5, 10, 25.5, 40, "n/a"]}]),
    # LIKE ... ESCAPE: the escaped wildcard is itself
    ("SELECT _id FROM orders WHERE CONCAT(status, '%') LIKE 'shipped!%' ESCAPE '!' ORDER BY _id", ids("1", "2")),
    ("SELECT _id FROM orders WHERE status LIKE 'ship!%' ESCAPE '!'", []),
    ("SELECT _id FROM orders WHERE status LIKE 'ship%' ESCAPE '!' ORDER BY _id", ids("1", "2")),
    ("SELECT _id FROM orders WHERE CONCAT(status, '_x') LIKE '%#_x' ESCAPE '#' AND _id = '3'", ids("3")),
    # Months and years on the calendar: a day past the month's end is its last day
    ("SELECT DATE '2018-01-31' + INTERVAL 1 MONTH AS d", [{"d": "2018-02-28"}]),
    ("SELECT DATE '2024-03-31' - INTERVAL '1' MONTH AS d", [{"d": "2024-02-29"}]),
    ("SELECT TIMESTAMP '2024-02-29 10:30:00' + INTERVAL '1' YEAR AS t", [{"t": "2025-02-28T10:30:00.000000Z"}]),
    ("SELECT DATETIME '2024-11-15 08:00:00' + INTERVAL '3' MONTH AS t", [{"t": "2025-02-15T08:00:00.000000"}]),
    ("SELECT DATE '2024-01-15' + MONTHS(2) + INTERVAL 1 DAY AS d", [{"d": "2024-03-16"}]),
    ("SELECT DATE '2024-01-15' + YEARS(1) AS d", [{"d": "2025-01-15"}]),
    # CAST converts what converts (Rockset's examples); TRY_CAST is null where CAST would fail
    ("SELECT CAST('2' AS int) AS i, CAST('2.5' AS float) AS f, CAST(2.5 AS int) AS t, CAST(true AS int) AS b",
     [{"i": 2, "f": 2.5, "t": 2, "b": 1}]),
    ("SELECT TRY_CAST('abc' AS int) AS x, TRY_CAST(amount AS int) AS a FROM orders WHERE _id = '5'",
     [{"x": None, "a": None}]),
    ("SELECT CAST(amount AS int) AS a FROM orders WHERE _id IN ('1', '2') ORDER BY _id", [{"a": 10}, {"a": 25}]),
    ("SELECT CAST(note AS int) AS a FROM orders WHERE _id = '1'", [{"a": None}]),
    # Array functions over ARRAY_AGG, under GROUP BY
    ("SELECT status, ARRAY_DISTINCT(ARRAY_AGG(customer.tier)) AS tiers FROM orders WHERE customer.tier IS NOT NULL "
     "GROUP BY status ORDER BY status",
     [{"status": "pending", "tiers": ["gold"]}, {"status": "shipped", "tiers": ["gold", "silver"]}]),
    ("SELECT status, ARRAY_FLATTEN(ARRAY_AGG(tags)) AS t FROM orders WHERE status = 'shipped' GROUP BY status",
     [{"status": "shipped", "t": ["a", "b", "b"]}]),
    ("SELECT status, ARRAY_REMOVE(ARRAY_AGG(customer.tier), 'silver') AS t FROM orders WHERE status = 'shipped' "
     "GROUP BY status", [{"status": "shipped", "t": ["gold"]}]),
    ("SELECT status, ARRAY_CONTAINS(ARRAY_AGG(_id), '2') AS has2, CARDINALITY(ARRAY_AGG(_id)) AS n, "
     "ELEMENT_AT(ARRAY_AGG(_id ORDER BY _id DESC), 1) AS last FROM orders GROUP BY status ORDER BY status",
     [{"status": "cancelled", "has2": False, "n": 1, "last": "4"},
      {"status": "pending", "has2": False, "n": 2, "last": "5"},
      {"status": "shipped", "has2": True, "n": 2, "last": "2"}]),
    ("SELECT status, ARRAY_JOIN(ARRAY_AGG(_id ORDER BY _id DESC), '-') AS j FROM orders GROUP BY status "
     "ORDER BY status", [{"status": "cancelled", "j": "4"}, {"status": "pending", "j": "5-3"},
                         {"status": "shipped", "j": "2-1"}]),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "expected"), CASES, ids=[c[0][:70] for c in CASES])
def test_it_answers_as_rockset_does(run, sql, expected):
    assert run(sql) == expected


@pytest.mark.parametrize(
    "sql",
    ["SELECT CAST('abc' AS int) AS x", "SELECT CAST(amount AS int) AS a FROM orders",
     "SELECT CAST(status AS float) AS a FROM orders WHERE _id = '1'"],
)  # fmt: skip
def test_a_cast_that_cant_convert_fails_the_query_and_says_try_cast(run, sql):
    with pytest.raises(QueryError) as error:
        run(sql)
    assert "CAST could not convert" in error.value.message and "TRY_CAST" in error.value.message


def test_with_recursive_is_refused_plainly_at_its_place(run):
    with pytest.raises(QueryError) as error:
        run("WITH RECURSIVE t AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT n FROM t")
    assert "Rockset SQL has no WITH RECURSIVE" in error.value.message
    assert (error.value.line, error.value.column) == (1, 16)


def test_a_window_name_that_isnt_defined_says_so(run):
    with pytest.raises(QueryError) as error:
        run("SELECT ROW_NUMBER() OVER v AS n FROM orders WINDOW w AS (ORDER BY _id)")
    assert "No window named `v`" in error.value.message


def test_an_escape_of_two_characters_is_refused(run):
    with pytest.raises(QueryError) as error:
        run("SELECT _id FROM orders WHERE status LIKE 'a' ESCAPE '!!'")
    assert "one character" in error.value.message
