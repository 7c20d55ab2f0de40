"""Rockset SQL over documents, with the answers Rockset gives, on whichever database the run uses (the
suite runs on SQLite and, with DATABASE_URL, on PostgreSQL: the same expectations for both)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.queries.sample import BIG

ids = lambda *values: [{"_id": v} for v in values]  # noqa: E731

CASES = [
    # What a new user tries first
    ("SELECT status, COUNT(*) AS n FROM commons.orders GROUP BY status ORDER BY status",
     [{"status": "cancelled", "n": 1}, {"status": "pending", "n": 2}, {"status": "shipped", "n": 2}]),
    # Comparisons are typed: 'n/a' is neither above nor below 20
    ("SELECT _id FROM orders WHERE amount > 20 ORDER BY _id", ids("2", "3")),
    ("SELECT _id FROM orders WHERE amount <= 10 ORDER BY _id", ids("1", "4")),
    ("SELECT _id FROM orders WHERE amount = 25.5", ids("2")),
    ("SELECT _id FROM orders WHERE amount <> 10 ORDER BY _id", ids("2", "3", "4")),
    ("SELECT _id FROM orders WHERE status = 'shipped' AND amount < 20", ids("1")),
    ("SELECT _id FROM orders WHERE NOT (status = 'shipped') OR amount = 10 ORDER BY _id", ids("1", "3", "4", "5")),
    ("SELECT _id FROM orders WHERE status IN ('pending', 'cancelled') ORDER BY _id", ids("3", "4", "5")),
    ("SELECT _id FROM orders WHERE amount IN (5, 25.5, 1) ORDER BY _id", ids("2", "4")),
    ("SELECT _id FROM orders WHERE customer IN ('Ann') OR amount NOT IN (5, 10, 40) ORDER BY _id", ids("2")),
    ("SELECT _id FROM orders WHERE amount BETWEEN 5 AND 25.5 ORDER BY _id", ids("1", "2", "4")),
    # LIKE tells upper from lower case
    ("SELECT _id FROM orders WHERE customer.name LIKE 'c%'", ids("3")),
    ("SELECT _id FROM orders WHERE customer.name LIKE 'C%'", []),
    ("SELECT _id FROM orders WHERE customer.name LIKE '_o_'", ids("2")),
    # null and undefined are both NULL to IS NULL; a result leaves undefined out and keeps null
    ("SELECT _id FROM orders WHERE note IS NULL ORDER BY _id", ids("1", "2", "3", "4", "5")),
    ("SELECT _id FROM orders WHERE note IS NOT NULL", []),
    ("SELECT _id, note FROM orders ORDER BY _id LIMIT 2", [{"_id": "1", "note": None}, {"_id": "2"}]),
    # Nested fields, table aliases, brackets, 1-based arrays
    ("SELECT o.customer.name AS name FROM commons.orders AS o WHERE o.customer.tier = 'gold' ORDER BY name",
     [{"name": "Ann"}, {"name": "cat"}]),
    ("SELECT customer['name'], tags[1] AS first, tags[2] AS second FROM orders WHERE _id = '1'",
     [{"name": "Ann", "first": "a", "second": "b"}]),
    ("SELECT customer FROM orders WHERE _id = '4'", [{"customer": {"name": "Dan"}}]),
    # Aggregates: SUM/AVG over numbers only, COUNT(x) counts values, MIN/MAX prefer numbers
    ("SELECT SUM(amount) AS total, AVG(amount) AS mean, COUNT(amount) AS c, MIN(amount) AS lo, MAX(amount) AS hi "
     "FROM orders", [{"total": Decimal("80.5"), "mean": Decimal("20.125"), "c": 5, "lo": 5, "hi": 40}]),
    ("SELECT COUNT(DISTINCT status) AS statuses, COUNT(note) AS notes, MAX(customer.name) AS last FROM orders",
     [{"statuses": 3, "notes": 0, "last": "cat"}]),
    ("SELECT customer.tier AS tier, COUNT(*) AS n FROM orders GROUP BY 1 HAVING COUNT(*) > 1 ORDER BY tier",
     [{"n": 2}, {"tier": "gold", "n": 2}]),
    ("SELECT status, SUM(amount) AS total FROM orders GROUP BY status ORDER BY total DESC",
     [{"status": "pending", "total": 40}, {"status": "shipped", "total": Decimal("35.5")},
      {"status": "cancelled", "total": 5}]),
    ("SELECT amount * 2 AS twice, amount + 1 AS more, -amount AS minus FROM orders WHERE _id = '2'",
     [{"twice": 51, "more": Decimal("26.5"), "minus": Decimal("-25.5")}]),
    # ORDER BY, NULLS, LIMIT, OFFSET
    ("SELECT _id FROM orders ORDER BY _id LIMIT 2 OFFSET 1", ids("2", "3")),
    ("SELECT _id FROM orders ORDER BY customer.tier DESC, _id", ids("2", "1", "3", "4", "5")),
    ("SELECT _id FROM orders ORDER BY customer.tier NULLS LAST, _id DESC", ids("3", "1", "2", "5", "4")),
    # Values of different types sort by type first: numbers before strings, as Rockset's type order says
    ("SELECT amount FROM orders ORDER BY amount DESC",
     [{"amount": "n/a"}, {"amount": 40}, {"amount": Decimal("25.5")}, {"amount": 10}, {"amount": 5}]),
    ("SELECT DISTINCT amount FROM orders ORDER BY amount LIMIT 2", [{"amount": 5}, {"amount": 10}]),
    ("SELECT DISTINCT status FROM orders ORDER BY 1", [{"status": s} for s in ("cancelled", "pending", "shipped")]),
    # Numbers keep every digit; * is the whole document with its _id
    ("SELECT big FROM orders WHERE _id = '4'", [{"big": BIG}]),
    ("SELECT * FROM orders WHERE _id = '2'",
     [{"_id": "2", "_event_time": "2026-01-01T00:00:00.000000Z", "id": "2", "status": "shipped",
       "amount": Decimal("25.5"), "customer": {"name": "Bob", "tier": "silver"}, "tags": ["b"]}]),
    ("SELECT * EXCEPT (customer, tags, note, id, _event_time) FROM orders WHERE _id = '1'",
     [{"_id": "1", "status": "shipped", "amount": 10}]),
    ("SELECT _id, _event_time FROM orders ORDER BY _event_time DESC, _id LIMIT 1",
     [{"_id": "1", "_event_time": "2026-01-01T00:00:00.000000Z"}]),
    # Conditional values and string functions
    ("SELECT _id, CASE WHEN amount >= 25 THEN 'big' WHEN amount < 25 THEN 'small' ELSE 'unknown' END AS size "
     "FROM orders ORDER BY _id",
     [{"_id": "1", "size": "small"}, {"_id": "2", "size": "big"}, {"_id": "3", "size": "big"},
      {"_id": "4", "size": "small"}, {"_id": "5", "size": "unknown"}]),
    ("SELECT CASE status WHEN 'shipped' THEN 1 ELSE 0 END AS s, IF(amount > 20, amount, 0) AS a FROM orders "
     "WHERE _id = '2'", [{"s": 1, "a": Decimal("25.5")}]),
    ("SELECT COALESCE(note, customer.tier, 'none') AS c FROM orders ORDER BY _id",
     [{"c": "gold"}, {"c": "silver"}, {"c": "gold"}, {"c": "none"}, {"c": "none"}]),
    ("SELECT UPPER(customer.name) AS u, LOWER(status) AS l, LENGTH(status) AS n, "
     "CONCAT(status, '-', customer.name) AS c, ABS(amount - 30) AS d FROM orders WHERE _id = '3'",
     [{"u": "CAT", "l": "pending", "n": 7, "c": "pending-cat", "d": 10}]),
    ("SELECT _id FROM orders WHERE LOWER(customer.name) = 'cat' AND status =: s", ids("3")),
    ("SELECT SUBSTR(status, 2, 3) AS a, SUBSTRING(status, 4) AS b, REPLACE(status, 'p', 'P') AS c, "
     "STARTS_WITH(status, 'pen') AS d, STARTS_WITH(status, 'x') AS e FROM orders WHERE _id = '3'",
     [{"a": "end", "b": "ding", "c": "Pending", "d": True, "e": False}]),
    ("SELECT _id, ARRAY_LENGTH(tags) AS n, CARDINALITY(customer) AS m FROM orders WHERE _id IN ('1', '3') "
     "ORDER BY _id", [{"_id": "1", "n": 2, "m": None}, {"_id": "3", "n": None, "m": None}]),
    ("SELECT COUNT_IF(amount > 10) AS big, COUNT_IF(tags[1] = 'b') AS b FROM orders", [{"big": 2, "b": 1}]),
    ("SELECT _id, FROM orders WHERE _id = '1'", ids("1")),  # a trailing comma, as Rockset allows
    # Joins between the organisation's collections
    ("SELECT o._id, c.city FROM orders o JOIN commons.customers c ON o.customer.name = c._id ORDER BY o._id",
     [{"_id": "1", "city": "Oslo"}, {"_id": "2", "city": "Rome"}]),
    ("SELECT o._id AS id, c.city FROM orders o LEFT JOIN customers c ON c._id = o.customer.name "
     "WHERE o.amount < 30 ORDER BY 1",
     [{"id": "1", "city": "Oslo"}, {"id": "2", "city": "Rome"}, {"id": "4"}]),
    ("SELECT COUNT(*) AS n FROM orders CROSS JOIN customers", [{"n": 15}]),
    ("SELECT c.city, COUNT(*) AS n FROM orders o, customers c WHERE o.customer.name = c._id GROUP BY c.city "
     "ORDER BY c.city", [{"city": "Oslo", "n": 1}, {"city": "Rome", "n": 1}]),
    ("SELECT c.* FROM orders o JOIN customers c ON o.customer.name = c._id WHERE o._id = '2'",
     [{"_id": "Bob", "_event_time": "2026-01-01T00:00:00.000000Z", "id": "Bob", "city": "Rome"}]),
    ("SELECT orders.status FROM orders JOIN customers ON orders.customer.name = customers._id ORDER BY 1",
     [{"status": "shipped"}, {"status": "shipped"}]),
    # Hints are for Rockset's planner: accepted and ignored
    ("SELECT _id FROM orders HINT(access_path=column_scan) WHERE _id = '1' HINT(join_broadcast=true)", ids("1")),
    # Comments are comments
    ("SELECT _id -- the key\nFROM orders /* ; DELETE FROM orders */ WHERE _id = '3'", ids("3")),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "expected"), CASES, ids=[c[0][:70] for c in CASES])
def test_it_answers_as_rockset_does(run, sql, expected):
    assert run(sql, [{"name": "s", "type": "string", "value": "pending"}]) == expected


def test_parameters_are_bound_with_their_types(run):
    parameters = [{"name": "s", "type": "string", "value": "shipped"}, {"name": "min", "type": "int", "value": "20"}]
    assert run("SELECT _id FROM orders WHERE status = :s AND amount >= :min", parameters) == ids("2")
    assert run("SELECT _id FROM orders WHERE amount = :a", [{"name": "a", "type": "float", "value": 25.5}]) == ids("2")


def test_a_quote_in_a_value_is_data_not_sql(run):
    assert run("SELECT _id FROM orders WHERE status = 'x'' OR 1=1 --'") == []
    parameters = [{"name": "s", "type": "string", "value": "x' OR '1'='1"}]
    assert run("SELECT _id FROM orders WHERE status = :s", parameters) == []


def test_the_default_row_limit_applies_only_without_a_limit(run):
    assert len(run("SELECT _id FROM orders", default_row_limit=2)) == 2
    assert len(run("SELECT _id FROM orders LIMIT 3", default_row_limit=2)) == 3
