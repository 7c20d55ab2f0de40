"""CTEs, derived tables, UNION, subqueries, UNNEST and window functions over Acme's `orders` and
`customers` (tests/queries/sample.py), with the same answers on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest

ids = lambda *values: [{"_id": v} for v in values]  # noqa: E731
D = Decimal
CREATED = "2026-01-01T00:00:00.000000Z"

CASES = [
    # WITH
    ("WITH shipped AS (SELECT _id, amount FROM orders WHERE status = 'shipped') SELECT _id, amount FROM shipped "
     "ORDER BY _id", [{"_id": "1", "amount": 10}, {"_id": "2", "amount": D("25.5")}]),
    ("WITH o AS (SELECT * FROM commons.orders) SELECT o.customer.name AS name FROM o WHERE o.amount > 20 "
     "ORDER BY name", [{"name": "Bob"}, {"name": "cat"}]),
    ("WITH a AS (SELECT status, COUNT(*) AS n FROM orders GROUP BY status), b AS (SELECT status FROM a WHERE n > 1) "
     "SELECT status FROM b ORDER BY status", [{"status": "pending"}, {"status": "shipped"}]),
    ("WITH t AS (SELECT tags FROM orders WHERE _id = '1') SELECT tags[2] AS second, ARRAY_LENGTH(tags) AS n FROM t",
     [{"second": "b", "n": 2}]),
    ("WITH orders AS (SELECT * FROM orders WHERE status = 'pending') SELECT _id FROM orders ORDER BY _id",
     ids("3", "5")),  # a CTE may shadow the collection it reads
    # Derived tables
    ("SELECT * FROM (SELECT _id, status FROM orders WHERE amount = 40) AS t", [{"_id": "3", "status": "pending"}]),
    ("SELECT * FROM (SELECT * FROM customers WHERE city = 'Rome') c",
     [{"_id": "Bob", "_event_time": CREATED, "id": "Bob", "city": "Rome"}]),
    ("SELECT t.status, t.n FROM (SELECT status, COUNT(*) AS n FROM orders GROUP BY status) t JOIN "
     "(SELECT MAX(amount) AS top, status FROM orders GROUP BY status) m ON m.status = t.status WHERE m.top > 20 "
     "ORDER BY t.status", [{"status": "pending", "n": 2}, {"status": "shipped", "n": 2}]),
    ("SELECT * FROM (SELECT * EXCEPT (id, _event_time) FROM customers WHERE city = 'Lima') AS c",
     [{"_id": "Zed", "_event_time": CREATED, "city": "Lima"}]),
    # `*` over a join: every relation's fields, the later one's where both have one
    ("SELECT * FROM orders o JOIN customers c ON o.customer.name = c._id WHERE o._id = '2'",
     [{"_id": "Bob", "_event_time": CREATED, "id": "Bob", "status": "shipped", "amount": D("25.5"),
       "customer": {"name": "Bob", "tier": "silver"}, "tags": ["b"], "city": "Rome"}]),
    ("WITH j AS (SELECT * FROM orders o JOIN customers c ON o.customer.name = c._id) SELECT status, city, amount "
     "FROM j ORDER BY city", [{"status": "shipped", "city": "Oslo", "amount": 10},
                              {"status": "shipped", "city": "Rome", "amount": D("25.5")}]),
    ("WITH named AS (SELECT _id AS name, city FROM customers) SELECT o._id, n.city FROM orders o JOIN "
     "(customers c JOIN named n ON n.name = c._id) ON o.customer.name = c._id ORDER BY o._id",
     [{"_id": "1", "city": "Oslo"}, {"_id": "2", "city": "Rome"}]),
    # RIGHT and FULL joins keep the unmatched rows of their side, and still only the organisation's documents
    ("SELECT o._id AS o, c._id AS c FROM orders o RIGHT JOIN customers c ON o.customer.name = c._id ORDER BY c._id",
     [{"o": "1", "c": "Ann"}, {"o": "2", "c": "Bob"}, {"o": None, "c": "Zed"}]),
    ("SELECT o._id AS o, c._id AS c FROM orders o FULL OUTER JOIN customers c ON o.customer.name = c._id "
     "WHERE o._id IS NULL OR o._id > '3' ORDER BY o._id, c._id",
     [{"o": None, "c": "Zed"}, {"o": "4", "c": None}, {"o": "5", "c": None}]),
    # UNION
    ("SELECT _id FROM orders WHERE amount = 10 UNION ALL SELECT _id FROM customers WHERE city = 'Oslo' ORDER BY _id",
     ids("1", "Ann")),
    ("SELECT status FROM orders UNION SELECT status FROM orders ORDER BY status",
     [{"status": "cancelled"}, {"status": "pending"}, {"status": "shipped"}]),
    ("SELECT amount AS v FROM orders WHERE _id = '1' UNION ALL SELECT city FROM customers WHERE _id = 'Ann' "
     "ORDER BY v DESC", [{"v": "Oslo"}, {"v": 10}]),
    ("SELECT COUNT(*) AS n FROM (SELECT _id FROM orders UNION ALL SELECT _id FROM customers) AS everything",
     [{"n": 8}]),
    ("SELECT v FROM (SELECT _id AS v FROM orders WHERE _id = '1' UNION ALL SELECT city FROM customers "
     "WHERE _id = 'Bob' UNION ALL SELECT amount FROM orders WHERE _id = '3') AS u ORDER BY v",
     [{"v": 40}, {"v": "1"}, {"v": "Rome"}]),
    # Subqueries in expressions
    ("SELECT _id FROM orders WHERE customer.name IN (SELECT _id FROM customers) ORDER BY _id", ids("1", "2")),
    ("SELECT _id FROM orders WHERE status NOT IN (SELECT status FROM orders WHERE amount > 20)", ids("4")),
    ("SELECT _id FROM orders WHERE _id IN (SELECT '1' UNION ALL SELECT '3') ORDER BY _id", ids("1", "3")),
    ("SELECT o._id FROM orders o WHERE EXISTS (SELECT 1 FROM customers c WHERE c._id = o.customer.name "
     "AND c.city = 'Rome')", ids("2")),
    ("SELECT _id FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer.name = c._id)", ids("Zed")),
    ("SELECT _id, amount - (SELECT MIN(amount) FROM orders) AS over_min FROM orders WHERE _id IN ('1', '3') "
     "ORDER BY _id", [{"_id": "1", "over_min": 5}, {"_id": "3", "over_min": 35}]),
    ("SELECT (SELECT COUNT(*) FROM customers) AS n", [{"n": 3}]),
    # UNNEST, as Rockset writes it and as Presto does
    ("SELECT o._id, tag FROM orders o CROSS JOIN UNNEST(o.tags AS tag) ORDER BY o._id, tag",
     [{"_id": "1", "tag": "a"}, {"_id": "1", "tag": "b"}, {"_id": "2", "tag": "b"}]),
    ("SELECT t.x, t.i FROM orders CROSS JOIN UNNEST(orders.tags) WITH ORDINALITY AS t(x, i) WHERE orders._id = '1' "
     "ORDER BY t.i DESC", [{"x": "b", "i": 2}, {"x": "a", "i": 1}]),
    ("SELECT tag, COUNT(*) AS n FROM orders CROSS JOIN UNNEST(tags AS tag) GROUP BY tag ORDER BY tag",
     [{"tag": "a", "n": 1}, {"tag": "b", "n": 2}]),
    ("SELECT i.sku, i.qty FROM UNNEST(JSON_PARSE('[{\"sku\": \"x\", \"qty\": 2}, {\"sku\": \"y\", \"qty\": 1}]')) "
     "AS i ORDER BY i.qty", [{"sku": "y", "qty": 1}, {"sku": "x", "qty": 2}]),
    ("SELECT * FROM UNNEST(ARRAY_CREATE(1, 'two', ARRAY_CREATE(3)) AS v)", [{"v": 1}, {"v": "two"}, {"v": [3]}]),
    # Window functions
    ("SELECT _id, ROW_NUMBER() OVER (PARTITION BY status ORDER BY _id) AS r FROM orders ORDER BY _id",
     [{"_id": "1", "r": 1}, {"_id": "2", "r": 2}, {"_id": "3", "r": 1}, {"_id": "4", "r": 1}, {"_id": "5", "r": 2}]),
    ("SELECT _id, RANK() OVER (ORDER BY status) AS r, PERCENT_RANK() OVER (ORDER BY status) AS p FROM orders "
     "ORDER BY _id",
     [{"_id": "1", "r": 4, "p": D("0.75")}, {"_id": "2", "r": 4, "p": D("0.75")}, {"_id": "3", "r": 2, "p": D("0.25")},
      {"_id": "4", "r": 1, "p": 0}, {"_id": "5", "r": 2, "p": D("0.25")}]),
    ("SELECT _id, SUM(amount) OVER (PARTITION BY status) AS total, COUNT(*) OVER () AS n FROM orders ORDER BY _id",
     [{"_id": "1", "total": D("35.5"), "n": 5}, {"_id": "2", "total": D("35.5"), "n": 5},
      {"_id": "3", "total": 40, "n": 5}, {"_id": "4", "total": 5, "n": 5}, {"_id": "5", "total": 40, "n": 5}]),
    ("SELECT _id, SUM(amount) OVER (ORDER BY _id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run, "
     "MAX(customer.name) OVER (ORDER BY _id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS m FROM orders ORDER BY _id",
     [{"_id": "1", "run": 10, "m": "Ann"}, {"_id": "2", "run": D("35.5"), "m": "Bob"},
      {"_id": "3", "run": D("75.5"), "m": "cat"}, {"_id": "4", "run": D("80.5"), "m": "cat"},
      {"_id": "5", "run": D("80.5"), "m": "Eve"}]),
    ("SELECT _id, FIRST_VALUE(customer.name) OVER (ORDER BY _id) AS f, LAST_VALUE(_id) OVER (ORDER BY _id ROWS "
     "BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS l, NTH_VALUE(status, 2) OVER (ORDER BY _id) AS n, "
     "LAG(_id) OVER (ORDER BY _id) AS prev, LEAD(_id, 1, 'none') OVER (ORDER BY _id) AS next FROM orders "
     "ORDER BY _id",
     [{"_id": "1", "f": "Ann", "l": "5", "prev": None, "next": "2"},
      {"_id": "2", "f": "Ann", "l": "5", "n": "shipped", "prev": "1", "next": "3"},
      {"_id": "3", "f": "Ann", "l": "5", "n": "shipped", "prev": "2", "next": "4"},
      {"_id": "4", "f": "Ann", "l": "5", "n": "shipped", "prev": "3", "next": "5"},
      {"_id": "5", "f": "Ann", "l": "5", "n": "shipped", "prev": "4", "next": "none"}]),
    ("SELECT status, COUNT(*) AS n, RANK() OVER (ORDER BY COUNT(*) DESC) AS r FROM orders GROUP BY status "
     "ORDER BY r, status",
     [{"status": "pending", "n": 2, "r": 1}, {"status": "shipped", "n": 2, "r": 1},
      {"status": "cancelled", "n": 1, "r": 3}]),
    ("SELECT tags, LAG(tags) OVER (ORDER BY _id) AS before FROM orders WHERE _id IN ('1', '2') ORDER BY _id",
     [{"tags": ["a", "b"]}, {"tags": ["b"], "before": ["a", "b"]}]),
    # Shapes seen in production Query Lambdas
    ("WITH t AS (SELECT _id AS id, tags FROM orders WHERE _id = '2') SELECT * FROM (t CROSS JOIN UNNEST(tags AS tag))",
     [{"id": "2", "tags": ["b"], "tag": "b"}]),
    ("SELECT _id FROM (SELECT _id, amount FROM orders) AS p WHERE (SELECT p.amount > 20) ORDER BY _id", ids("2", "3")),
    ("WITH u AS (SELECT _event_time AS time FROM orders WHERE _id = '1' UNION ALL SELECT "
     "PARSE_TIMESTAMP_ISO8601('2024-05-05T05:05:05Z') AS time FROM orders WHERE _id = '1') "
     "SELECT FORMAT_TIMESTAMP('%Y-%m-%d', DATE_TRUNC('month', time)) AS m FROM u ORDER BY m",
     [{"m": "2024-05-01"}, {"m": "2026-01-01"}]),
    ("WITH u AS (SELECT _id, null AS x FROM orders WHERE _id = '1' UNION ALL SELECT _id, amount FROM orders "
     "WHERE _id = '2') SELECT _id, x FROM u ORDER BY _id", [{"_id": "1"}, {"_id": "2", "x": D("25.5")}]),
    ("SELECT REPLACE(status, 'ing') AS s, IF(LENGTH(tags) > 1, ELEMENT_AT(tags, 2), ELEMENT_AT(tags, 1)) AS t, "
     "CAST(SUM(amount) > 0 AS int) AS any, ROUND(AVG(amount) * 100, 2) AS pct FROM orders WHERE _id = '1' "
     "GROUP BY status, tags", [{"s": "shipped", "t": "b", "any": 1, "pct": 1000}]),
    ("SELECT SUM(ELEMENT_AT(JSON_PARSE(CONCAT('{\"n\": ', CAST(amount AS string), '}')), 'n')) AS s FROM orders "
     "WHERE _id IN ('1', '2')", [{"s": D("35.5")}]),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "expected"), CASES, ids=[c[0][:70] for c in CASES])
def test_relations_answer_as_rockset_does(run, sql, expected):
    assert run(sql) == expected
