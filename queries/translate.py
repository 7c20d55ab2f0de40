"""Rockset SQL → SQL over the documents table, for PostgreSQL (JSONB) or SQLite (JSON1).

The translator walks sqlglot's tree and emits SQL for the node types it knows, one method each; any other
node is refused as "not supported yet" with its line and column. That whitelist is the first wall between
a user's SQL and the database: a function, table or statement nobody thought about can't pass through by
default. Every value in the user's SQL (literals, parameters, limits) becomes a bound parameter; the only
text that comes from the user into the generated SQL is a document field name, and only after it has
matched `SAFE_KEY` (no quotes, backslashes or control characters), quoted by us.

Documents are schemaless, so a field reference is JSON: `jsonb` on PostgreSQL (compared with jsonb, so
numbers compare as exact numerics and strings as strings), a `json_extract` value on SQLite. A missing
field (Rockset's `undefined`) is SQL NULL on both; a JSON null is kept apart where it shows (results).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlglot import exp

from queries.dialect import parse
from queries.errors import QueryError
from queries.expressions import Expressions
from queries.functions import Functions
from queries.sql import (
    ALIAS,
    BOOL,
    DOC,
    DOCUMENTS,
    JSON,
    NULL,
    NUM,
    POSTGRES,
    SQLITE,
    STAR,
    TEXT,
    VALUE,
    Column,
    Resolver,
    Sql,
    Translation,
    unsupported,
    where_of,
)  # fmt: skip
from queries.times import Times

DEFAULT_WORKSPACE = "commons"
PARAMETER_TYPES = {"string", "int", "float", "bool", "date", "datetime", "timestamp"}


def typed_parameter(name: str, type_: str, value: Any) -> Sql:
    """A Rockset query parameter as a bound value of the right SQL kind; its text is never spliced."""
    if type_ not in PARAMETER_TYPES:
        raise QueryError(f"Parameter `{name}` has type `{type_}`; use one of {', '.join(sorted(PARAMETER_TYPES))}.")
    try:
        if value is None:
            return Sql("NULL", NULL)
        if type_ == "int":
            return Sql("", NUM, (int(str(value)),))
        if type_ == "float":
            return Sql("", NUM, (Decimal(str(value)),))
        if type_ == "bool":
            if str(value).lower() not in ("true", "false"):
                raise ValueError(value)
            return Sql("", BOOL, (str(value).lower() == "true",))
    except (ValueError, InvalidOperation):
        raise QueryError(f"Parameter `{name}` is not a valid {type_}: {str(value)[:60]!r}.") from None
    return Sql("", TEXT, (str(value),))  # string; dates and times compare as their ISO text for now


class Translator(Expressions, Functions, Times):
    """One query, for one database vendor and one organisation's collections."""

    def __init__(self, vendor: str, resolve: Resolver, parameters: Mapping[str, Sql] | None = None) -> None:
        if vendor not in (POSTGRES, SQLITE):
            raise ValueError(f"No SQL generator for {vendor}")
        self.pg = vendor == POSTGRES
        self.resolve = resolve
        self.parameters = dict(parameters or {})
        self.tables: dict[str, str] = {}  # the query's names for its collections → d0, d1...
        self.only_table: str | None = None  # the one collection an unqualified field belongs to

    # The statement

    def translate(self, sql: str, *, default_limit: int | None = None, row_cap: int | None = None) -> Translation:
        tree = parse(sql)
        if not isinstance(tree, exp.Select):
            if isinstance(tree, exp.Query):
                raise unsupported(tree, "WITH, UNION and other compound queries are")
            raise QueryError("Only SELECT queries may be run.", *where_of(tree))
        return self.select(tree, default_limit=default_limit, row_cap=row_cap)

    def select(self, node: exp.Select, *, default_limit: int | None, row_cap: int | None) -> Translation:
        for key in ("laterals", "with_", "with", "windows", "qualify", "into", "locks", "connect", "prewhere"):
            if node.args.get(key):
                raise unsupported(node, f"{key.rstrip('_').upper()} is")
        source = node.args.get("from_") or node.args.get("from")
        joins = node.args.get("joins") or []
        if source is None:  # `SELECT ARRAY_CREATE(1, 2)`: values only, as Rockset's examples write them
            if joins:
                raise QueryError("A JOIN needs a FROM clause naming a collection.", *where_of(joins[0]))
            labels: tuple[str, ...] = ()
            from_sql, from_params = "WHERE 1 = 1", []
        else:
            collection_ids, labels = zip(*[self.table(t.this, i) for i, t in enumerate([source, *joins])], strict=True)
            self.only_table = f"{ALIAS}0" if not joins else None
            from_sql, from_params = self.joins(joins, collection_ids)

        items = [self.item(e, i) for i, e in enumerate(node.expressions)]
        named = {c.name: s for c, s in items if s is not None}
        parts = ["SELECT"]
        distinct = node.args.get("distinct")
        if distinct is not None:
            if distinct.args.get("on"):
                raise unsupported(distinct, "DISTINCT ON is")
            parts.append("DISTINCT")
        # ORDER BY first: on PostgreSQL, SELECT DISTINCT needs its sort keys in the select list, and ours
        # return JSON text (which would sort 10 before 9), so the keys ride along as hidden columns.
        terms, order_params, hidden = [], [], []
        if (order := node.args.get("order")) is not None:
            for ordered in order.expressions:
                key, is_item = self.by_reference(ordered.this, items, named)
                desc = bool(ordered.args.get("desc"))
                nulls_first = ordered.args.get("nulls_first")
                # Rockset sorts undefined and null before every value (the dialect's "nulls are small", which
                # sqlglot applies when the query doesn't say); the databases' own defaults differ, so say it.
                first = (not desc) if nulls_first is None else bool(nulls_first)
                for part in [self.type_rank(key), key] if key.kind == JSON else [key]:
                    terms.append(f"{part.sql} {'DESC' if desc else 'ASC'} NULLS {'FIRST' if first else 'LAST'}")
                    order_params += part.params
                    if distinct is not None and self.pg and is_item:
                        hidden.append(part)
        outputs = [self.output(column, s) for column, s in items] + hidden
        parts.append(", ".join(o.sql for o in outputs))
        params: list[Any] = [p for o in outputs for p in o.params]
        parts.append(from_sql)
        params += from_params
        if (where := node.args.get("where")) is not None:
            condition = self.condition(where.this)
            parts.append(f"AND ({condition.sql})")
            params += condition.params
        if (group := node.args.get("group")) is not None:
            keys = [self.by_reference(e, items, named)[0] for e in group.expressions]
            parts.append("GROUP BY " + ", ".join(k.sql for k in keys))
            params += [p for k in keys for p in k.params]
        if (having := node.args.get("having")) is not None:
            condition = self.condition(having.this)
            parts.append(f"HAVING {condition.sql}")
            params += condition.params
        if terms:
            parts.append("ORDER BY " + ", ".join(terms))
            params += order_params
        limit = self.count_of(node.args.get("limit"), "LIMIT")
        if limit is None:
            limit = default_limit
        if row_cap is not None:  # one more than the cap, so the runner can tell the result was cut
            limit = row_cap + 1 if limit is None else min(limit, row_cap + 1)
        offset = self.count_of(node.args.get("offset"), "OFFSET")
        if limit is not None or offset is not None:
            parts.append("LIMIT %s")
            params.append(limit if limit is not None else -1 if not self.pg else None)
        if offset is not None:
            parts.append("OFFSET %s")
            params.append(offset)
        return Translation(" ".join(parts), params, [c for c, _ in items], list(dict.fromkeys(labels)))

    def joins(self, joins: list[exp.Join], collection_ids: tuple[int, ...]) -> tuple[str, list[Any]]:
        """FROM and JOINs, each collection's restriction where it belongs: in a LEFT JOIN's ON (in WHERE it
        would drop the unmatched rows), in WHERE for the first collection."""
        sql, params = [f"FROM {DOCUMENTS} {ALIAS}0"], []
        for index, join in enumerate(joins, start=1):
            side, kind = (join.side or "").upper(), (join.kind or "").upper()
            if join.args.get("using"):
                raise unsupported(join, "JOIN ... USING is")
            if side not in ("", "LEFT") or kind not in ("", "INNER", "CROSS", "OUTER"):
                raise unsupported(join, f"{side or kind} JOIN is")
            table = f"{ALIAS}{index}"
            on = join.args.get("on")
            if on is None and side == "LEFT":
                raise QueryError("A LEFT JOIN needs an ON condition.", *where_of(join))
            sql.append(f"{'LEFT ' if side else ''}JOIN {DOCUMENTS} {table} ON {table}.collection_id = %s")
            params.append(collection_ids[index])
            if on is not None:
                condition = self.condition(on)
                sql.append(f"AND ({condition.sql})")
                params += condition.params
        sql.append(f"WHERE {ALIAS}0.collection_id = %s")
        params.append(collection_ids[0])
        return " ".join(sql), params

    def table(self, node: exp.Expression, index: int) -> tuple[int, str]:
        if not isinstance(node, exp.Table) or not isinstance(node.this, exp.Identifier):
            raise unsupported(node, "A FROM other than one collection is")
        if node.args.get("catalog") or node.args.get("joins") or node.args.get("pivots"):
            raise unsupported(node, f"`{node.sql()}` as a collection is")
        workspace = node.db or DEFAULT_WORKSPACE
        name = node.name
        collection_id = self.resolve(workspace, name)
        if collection_id is None:
            line, column = where_of(node)
            raise QueryError(f"Collection '{workspace}.{name}' not found.", line, column)
        names = {node.alias_or_name} if node.alias else {name, f"{workspace}.{name}"}
        for alias in names:
            if alias in self.tables:
                raise QueryError(f"`{alias}` names two collections of the query; give one an alias.", *where_of(node))
            self.tables[alias] = f"{ALIAS}{index}"
        return collection_id, f"{workspace}.{name}"

    def count_of(self, node: exp.Expression | None, clause: str) -> int | None:
        if node is None:
            return None
        value = node.args.get("expression") or node.this
        bound = self.value(value)
        number = bound.params[0] if bound.params else None
        if bound.kind != NUM or isinstance(number, bool) or number != int(number) or number < 0:
            raise QueryError(f"{clause} must be a whole number of rows, 0 or more.", *where_of(node))
        return int(number)

    # The select list

    def item(self, node: exp.Expression, index: int) -> tuple[Column, Sql | None]:
        if isinstance(node, exp.Star):
            if node.args.get("replace") or node.args.get("replace_") or node.args.get("rename"):
                raise unsupported(node, "* REPLACE is")
            excluded = node.args.get("except_") or node.args.get("except") or []
            names = []
            for column in excluded:
                if not isinstance(column, exp.Column) or column.table:
                    raise unsupported(column, "* EXCEPT of anything but top-level fields is")
                names.append(column.name)
            if self.only_table is None:
                raise unsupported(node, "* over a join is")  # whose `_id`? name the fields, or `o.*`
            return Column("*", STAR, tuple(names), self.only_table), None
        if isinstance(node, exp.Column) and isinstance(node.this, exp.Star):
            if node.table not in self.tables or node.args.get("db"):
                raise QueryError(f"`{node.table}` is not a collection of this query.", *where_of(node))
            return Column("*", STAR, (), self.tables[node.table]), None
        alias = node.alias if isinstance(node, exp.Alias) else None
        inner = node.this if isinstance(node, exp.Alias) else node
        emitted = self.value(inner)
        if alias:
            name = alias
        elif emitted.path:
            name = next((k for k in reversed(emitted.path) if isinstance(k, str)), f"?column{index + 1}")
        elif emitted.table and emitted.path is None and emitted.sql.endswith((".doc_id", ".event_time")):
            name = "_id" if emitted.sql.endswith(".doc_id") else "_event_time"
        elif isinstance(inner, exp.Func):
            name = f"?{inner.key.upper()}"
        else:
            name = f"?column{index + 1}"
        if emitted.path is not None or (self.pg and emitted.kind == JSON) or emitted.kind == DOC:
            kind = JSON  # returned as JSON text
        else:
            kind = VALUE if emitted.kind == JSON else emitted.kind  # SQLite's MIN(field): a plain value
        return Column(name, kind), emitted

    def output(self, column: Column, emitted: Sql | None) -> Sql:
        """What the SELECT list returns: JSON text for fields (exact numbers, null told from undefined)."""
        if emitted is None:
            table = column.table
            return Sql(f"{table}.doc_id, {table}.body" + ("::text" if self.pg else "") + f", {table}.event_time", STAR)
        if emitted.path is not None and not self.pg:
            return Sql(f"{emitted.table}.body -> '{self.sqlite_path(emitted.path)}'", JSON)
        if emitted.kind == JSON and self.pg:
            return Sql(f"({emitted.sql})::text", JSON, emitted.params)
        return emitted

    def by_reference(self, node: exp.Expression, items: list[tuple[Column, Sql | None]], named: dict) -> tuple:
        """GROUP BY and ORDER BY name a select item by position (`1`) or alias, or write an expression;
        the second value says whether it was a select item."""
        if isinstance(node, exp.Literal) and not node.is_string:
            position = int(node.this) if node.this.isdigit() else 0
            if not 1 <= position <= len(items) or items[position - 1][1] is None:
                raise QueryError(f"Position {node.this} is not an expression of the select list.", *where_of(node))
            return items[position - 1][1], True
        if isinstance(node, exp.Column) and not node.table and node.name in named:
            return named[node.name], True  # an alias wins over a field of the same name, as in SQL
        return self.value(node), False


def translate(
    sql: str,
    *,
    vendor: str,
    resolve: Resolver,
    parameters: Mapping[str, Sql] | None = None,
    default_limit: int | None = None,
    row_cap: int | None = None,
) -> Translation:
    """Rockset SQL → one statement for `vendor`, with its bound values; QueryError when it can't be."""
    translator = Translator(vendor, resolve, parameters)
    return translator.translate(sql, default_limit=default_limit, row_cap=row_cap)
