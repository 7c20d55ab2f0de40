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

The translator is one class in pieces, each a module: this one (statements: SELECT, UNION, the select
list, ORDER BY, LIMIT), queries/relations.py (FROM, JOINs, CTEs, derived tables, UNNEST, scopes,
subqueries in expressions), queries/expressions.py (fields, operators, conversions), queries/functions.py,
queries/times.py and queries/windows.py (Rockset's functions).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlglot import exp

from queries.dialect import parse
from queries.errors import QueryError
from queries.expressions import Expressions
from queries.functions import Functions
from queries.relations import DERIVED, EXISTS, MEMBER, TOP, VALUES, Relation, Relations, Scope, Statement
from queries.sql import (
    BOOL,
    DATE,
    DOC,
    JSON,
    NULL,
    NUM,
    POSTGRES,
    SAFE_KEY,
    SQLITE,
    STAR,
    TEXT,
    TIME,
    TIMES,
    VALUE,
    Column,
    Resolver,
    Sql,
    Translation,
    ViewLookup,
    unsupported,
    where_of,
)  # fmt: skip
from queries.sqlite_functions import parse_iso
from queries.times import Times
from queries.windows import Windows

logger = logging.getLogger(__name__)
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
        if type_ in TIMES:  # ISO 8601 text, as Rockset's parameters carry them
            micros = parse_iso(str(value))
            if micros is None:
                raise ValueError(value)
            if type_ == DATE:
                micros -= micros % 86_400_000_000
            return Sql("", type_, (micros,))
    except (ValueError, InvalidOperation):
        raise QueryError(f"Parameter `{name}` is not a valid {type_}: {str(value)[:60]!r}.") from None
    return Sql("", TEXT, (str(value),))


class Translator(Relations, Windows, Expressions, Functions, Times):
    """One query, for one database vendor and one organisation's collections."""

    def __init__(
        self, vendor: str, resolve: Resolver, parameters: Mapping[str, Sql] | None = None,
        view_sql: ViewLookup | None = None,
    ) -> None:  # fmt: skip
        if vendor not in (POSTGRES, SQLITE):
            raise ValueError(f"No SQL generator for {vendor}")
        self.pg = vendor == POSTGRES
        self.resolve = resolve
        self.view_sql = view_sql
        self.expanding: list[str] = []
        self.entities: list[str] = []
        self.parameters = dict(parameters or {})
        self.scope = Scope()
        self.collections: list[str] = []  # workspace.name of each collection read, for the response
        self.aliases = 0  # generated aliases (d1, s2, u3...) are numbered across the whole statement
        self.over: Sql | None = None  # the OVER (...) of the window function being emitted
        self.windows: dict[str, exp.Window] = {}  # the SELECT's named windows (WINDOW w AS (...))
        self.repeatable = True  # no view opened, no clock read (Translation.repeatable)

    # The statement

    def translate(self, sql: str, *, default_limit: int | None = None, row_cap: int | None = None) -> Translation:
        tree = parse(sql)
        while isinstance(tree, exp.Subquery) and not tree.alias:
            tree = tree.this
        if not isinstance(tree, exp.Query):
            raise QueryError("Only SELECT queries may be run.", *where_of(tree))
        statement = self.statement(tree, TOP, default_limit=default_limit, row_cap=row_cap)
        return Translation(
            statement.sql, statement.params, statement.columns, list(dict.fromkeys(self.collections)),
            list(dict.fromkeys(self.entities)), self.repeatable, statement.guard_at,
        )  # fmt: skip

    def statement(self, node: exp.Expression, mode: str, **limits: int | None) -> Statement:
        """A SELECT or a UNION, for the result (TOP), a FROM (DERIVED), a UNION's side (MEMBER) or a value
        (VALUES: IN, EXISTS, a scalar subquery)."""
        if isinstance(node, exp.Select):
            return self.select(node, mode, **limits)
        if isinstance(node, exp.Union):
            self.with_ctes(node)
            if mode in (DERIVED, MEMBER) and not any(node.args.get(k) for k in ("order", "limit", "offset")):
                return self.union(node, as_json=mode == MEMBER)
            # ORDER BY and LIMIT of a UNION (and a UNION as the result): a SELECT over it, as a derived table
            inner = node.copy()
            for key in ("order", "limit", "offset", "with_", "with"):
                inner.set(key, None)
            wrapper = exp.Select(expressions=[exp.Star()]).from_(exp.Subquery(this=inner))
            for key in ("order", "limit", "offset"):
                if node.args.get(key) is not None:
                    wrapper.set(key, node.args[key].copy())  # copies: the parsed tree is shared, never changed
            return self.select(wrapper, mode, **limits)
        if isinstance(node, exp.Subquery):
            return self.statement(node.this, mode, **limits)
        raise unsupported(node, f"{node.key.upper()} is")

    def union(self, node: exp.Union, *, as_json: bool) -> Statement:
        """Both sides as they are when their columns agree (a null column agrees with any); else both
        again with every column as JSON, which any value is (and so at once inside a UNION that needs it)."""
        sides = self.union_sides(node, MEMBER if as_json else DERIVED)
        if len(sides[0].refs) != len(sides[1].refs) or any(
            (a == "*") != (b == "*") for (_, a), (_, b) in zip(sides[0].refs, sides[1].refs, strict=True)
        ):
            raise QueryError("The two sides of a UNION select different numbers of columns.", *where_of(node))
        pairs = list(zip(sides[0].refs, sides[1].refs, strict=True))
        if as_json:
            refs = sides[0].refs
        elif all(a == b or NULL in (a, b) for (_, a), (_, b) in pairs):
            refs = [(name, b if a == NULL else a) for (name, a), (_, b) in pairs]
        else:
            sides = self.union_sides(node, MEMBER)
            refs = sides[0].refs
        keyword = "UNION" if node.args.get("distinct") else "UNION ALL"
        return Statement(f"{sides[0].sql} {keyword} {sides[1].sql}", sides[0].params + sides[1].params, [], refs)

    def union_sides(self, node: exp.Union, mode: str) -> list[Statement]:
        sides = []
        for side in (node.this, node.expression):
            with self.scoped(correlated=False):
                sides.append(self.statement(side, mode))
        return sides

    def select(
        self, node: exp.Select, mode: str, *, default_limit: int | None = None, row_cap: int | None = None
    ) -> Statement:
        for key in ("laterals", "qualify", "into", "locks", "connect", "prewhere"):
            if node.args.get(key):
                raise unsupported(node, f"{key.rstrip('_').upper()} is")
        self.with_ctes(node)
        outer_windows, self.windows = self.windows, self.named_windows(node)
        source = node.args.get("from_") or node.args.get("from")
        joins = node.args.get("joins") or []
        if source is None:  # `SELECT ARRAY_CREATE(1, 2)`: values only, as Rockset's examples write them
            if joins:
                raise QueryError("A JOIN needs a FROM clause naming a collection.", *where_of(joins[0]))
            from_sql, from_params = "WHERE 1 = 1", []
        else:
            from_sql, from_params = self.from_clause(source, joins)

        items = [item for i, e in enumerate(node.expressions) for item in self.item(e, i)]
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
                for part in self.sort_terms(ordered, key):
                    terms.append(part.sql)
                    order_params += part.params
                    if distinct is not None and self.pg and is_item and mode == TOP:
                        hidden.append(Sql(part.sql.rsplit(" ", 3)[0], part.kind, part.params))
        outputs = [self.output(column, s, mode) for column, s in items]
        refs = [(c.name, "*" if c.kind == STAR else o.kind) for (c, _), o in zip(items, outputs, strict=True)]
        if mode == EXISTS:
            outputs, refs = [Sql("1", NUM)], []
        parts.append(", ".join([*self.named_outputs(items, outputs, mode), *(h.sql for h in hidden)]))
        params: list[Any] = [p for o in [*outputs, *hidden] for p in o.params]
        parts.append(from_sql)
        params += from_params
        guard_at = (len(" ".join(parts)), len(params)) if mode == TOP else None
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
        sql = " ".join(parts)
        if mode == MEMBER and (terms or limit is not None):
            sql = f"SELECT * FROM ({sql}) AS {self.new_alias('m')}"  # a UNION's side may not ORDER or LIMIT
        self.windows = outer_windows  # a subquery's named windows are its own
        return Statement(sql, params, [c for c, _ in items], refs, guard_at)

    def named_windows(self, node: exp.Select) -> dict[str, exp.Window]:
        """`WINDOW w AS (PARTITION BY ... ORDER BY ...)`: the definitions `OVER w` names in this SELECT."""
        named: dict[str, exp.Window] = {}
        for window in node.args.get("windows") or []:
            if window.name in named:
                raise QueryError(f"The window `{window.name}` is defined twice.", *where_of(window))
            named[window.name] = window
        return named

    def named_outputs(self, items: list[tuple[Column, Sql | None]], outputs: list[Sql], mode: str) -> list[str]:
        """For an enclosing query the columns are named c0, c1...; a `*` is three (document, _id, time)."""
        if mode in (TOP, EXISTS):
            return [o.sql for o in outputs]
        named, position = [], 0
        for (column, _), output in zip(items, outputs, strict=True):
            pieces = column.star if column.kind == STAR else (output.sql,)
            if column.kind == STAR and column.exclude:  # `* EXCEPT (a, b)` for an enclosing query
                pieces = (self.without_keys(pieces[0], column.exclude), *pieces[1:])
            for piece in pieces:
                named.append(f"{piece} AS c{position}")
                position += 1
        return named

    def without_keys(self, document: str, keys: tuple[str, ...]) -> str:
        for key in keys:
            if not SAFE_KEY.match(key):
                raise QueryError(f"Field name {key[:60]!r} is not supported yet in queries.")
        if self.pg:
            return "(" + document + "".join(f" - '{key}'" for key in keys) + ")"
        return f"json_remove({document}, {', '.join(repr(self.sqlite_path([key])) for key in keys)})"

    def sort_terms(self, ordered: exp.Ordered, key: Sql) -> list[Sql]:
        """One ORDER BY key as its sort terms: JSON values sort by Rockset's type order first."""
        desc = bool(ordered.args.get("desc"))
        nulls_first = ordered.args.get("nulls_first")
        # Rockset sorts undefined and null before every value (the dialect's "nulls are small", which sqlglot
        # applies when the query doesn't say); the databases' own defaults differ, so say it.
        first = (not desc) if nulls_first is None else bool(nulls_first)
        key = self.scalar(key)
        if key.kind == NULL:  # `ORDER BY NULL` sorts nothing (and PostgreSQL refuses a constant there)
            return []
        suffix = f" {'DESC' if desc else 'ASC'} NULLS {'FIRST' if first else 'LAST'}"
        parts = [self.type_rank(key), key] if key.kind == JSON else [key]
        return [Sql(part.sql + suffix, part.kind, part.params) for part in parts]

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

    def item(self, node: exp.Expression, index: int) -> list[tuple[Column, Sql | None]]:
        if isinstance(node, exp.Star):
            if node.args.get("replace") or node.args.get("replace_") or node.args.get("rename"):
                raise unsupported(node, "* REPLACE is")
            excluded = node.args.get("except_") or node.args.get("except") or []
            names = []
            for column in excluded:
                if not isinstance(column, exp.Column) or column.table:
                    raise unsupported(column, "* EXCEPT of anything but top-level fields is")
                names.append(column.name)
            # over a join: every relation's fields (a field two of them have: the later one's, and its `_id`)
            return [item for r in self.scope.relations for item in self.star(r, tuple(names), node)]
        if isinstance(node, exp.Column) and isinstance(node.this, exp.Star):
            if node.table not in self.scope.names or node.args.get("db"):
                raise QueryError(f"`{node.table}` is not a collection of this query.", *where_of(node))
            return self.star(self.scope.names[node.table], (), node)
        alias = node.alias if isinstance(node, exp.Alias) else None
        inner = node.this if isinstance(node, exp.Alias) else node
        emitted = self.value(inner)
        if alias:
            name = alias
        elif emitted.path:
            name = next((k for k in reversed(emitted.path) if isinstance(k, str)), f"?column{index + 1}")
        elif emitted.label:
            name = emitted.label
        elif isinstance(inner, exp.Func):
            name = f"?{inner.key.upper()}"
        else:
            name = f"?column{index + 1}"
        return [(Column(name, self.result_kind(emitted)), emitted)]

    def result_kind(self, emitted: Sql) -> str:
        if emitted.path is not None or (self.pg and emitted.kind == JSON) or emitted.kind == DOC:
            return JSON  # returned as JSON text
        return VALUE if emitted.kind == JSON else emitted.kind  # SQLite's MIN(field): a plain value

    def star(self, relation: Relation, exclude: tuple[str, ...], node: exp.Expression) -> list:
        """`*` or `t.*`: a document with its _id, and a derived table's or UNNEST's named columns."""
        items: list[tuple[Column, Sql | None]] = []
        if relation.document and relation.doc_id and relation.event_time:
            items.append((Column("*", STAR, exclude, (relation.document, relation.doc_id, relation.event_time)), None))
        elif relation.document:
            items.append((Column("*", JSON), self.field([], node, relation.document)))
        items += [(Column(name, self.result_kind(s)), s) for name, s in relation.columns.items() if name not in exclude]
        return items

    def output(self, column: Column, emitted: Sql | None, mode: str) -> Sql:
        """What the SELECT list returns. For the result: JSON text for fields (exact numbers, null told from
        undefined). For an enclosing query: jsonb on PostgreSQL and JSON text on SQLite for JSON values (so
        that their fields can be read on), and every value as JSON for the sides of a UNION."""
        if emitted is None:
            document, doc_id, event_time = column.star
            return Sql(f"{doc_id}, {document}, {event_time}", STAR)
        if mode == TOP:
            # PostgreSQL's jsonb arrives as its text (Django's psycopg loader), so no cast: `(x)::text` of a
            # grouped x made PostgreSQL carry whole documents into the grouping and sort them on disk.
            if emitted.path is not None and not self.pg:
                return Sql(f"({emitted.table} -> '{self.sqlite_path(emitted.path)}')", JSON)
            return emitted
        if mode == VALUES:
            return self.scalar(emitted)
        if mode == MEMBER and emitted.kind in (*TIMES, TIME):  # as Rockset writes it; read back as a time
            emitted = self.as_string(emitted)
        if mode == MEMBER or emitted.path is not None or emitted.kind in (JSON, DOC):
            if mode == DERIVED and emitted.kind == JSON and emitted.path is None and not self.pg:
                return emitted  # a plain SQLite value (MIN(field)): read on as a value
            as_json = self.json(self.scalar(emitted)) if self.pg else self.jtext(emitted)
            return Sql(as_json.sql, DOC, as_json.params)
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
    view_sql: ViewLookup | None = None,
) -> Translation:
    """Rockset SQL → one statement for `vendor`, with its bound values; QueryError when it can't be."""
    translator = Translator(vendor, resolve, parameters, view_sql)
    try:
        return translator.translate(sql, default_limit=default_limit, row_cap=row_cap)
    except QueryError:
        raise
    except Exception:  # a translator bug: logged with its traceback, the user told plainly
        logger.exception("Could not translate %r", sql[:2000])
        raise QueryError("Millrace could not translate this query (an error on our side, logged).",
                         type_="INTERNALERROR") from None  # fmt: skip
