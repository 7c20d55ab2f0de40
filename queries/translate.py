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

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlglot import exp

from collections_app.models import Document
from ingest.convert import dumps
from queries.dialect import parse
from queries.errors import QueryError

POSTGRES = "postgresql"
SQLITE = "sqlite"
DOCUMENTS = Document._meta.db_table
ALIAS = "d"  # the documents table's aliases in the generated SQL are d0, d1...: user aliases never reach it
DEFAULT_WORKSPACE = "commons"
SAFE_KEY = re.compile(r"^[^\x00-\x1f\"'\\%]{1,255}$")  # `%` too: the drivers' placeholders use it
PARAMETER_TYPES = {"string", "int", "float", "bool", "date", "datetime", "timestamp"}

# Which SQL kind an emitted expression has: how it is compared, converted and returned.
JSON, NUM, TEXT, BOOL, NULL, VALUE = "json", "num", "text", "bool", "null", "value"

# A collection's id from (workspace, name), looked up in the caller's organisation only; None if not there.
Resolver = Callable[[str, str], "int | None"]


@dataclass(frozen=True)
class Sql:
    """A piece of generated SQL with its bound values, in the order their `%s` appear."""

    sql: str
    kind: str
    params: tuple[Any, ...] = ()
    path: tuple[str | int, ...] | None = None  # set for a document field: its output is the JSON text
    constant: bool = False  # one bound value from the query (a literal or a parameter)
    table: str = ""  # for a field: the generated alias of the documents row it is read from


@dataclass(frozen=True)
class Column:
    """One column of the result: its name and how the runner turns the database's value into JSON."""

    name: str
    kind: str  # JSON: JSON text to decode (None = undefined, omitted); STAR: doc_id and body; else a value
    exclude: tuple[str, ...] = ()  # `* EXCEPT (a, b)`: top-level fields left out of the document
    table: str = ""  # STAR: whose document


STAR = "star"


@dataclass
class Translation:
    sql: str
    params: list[Any]
    columns: list[Column]
    collections: list[str] = field(default_factory=list)


def where_of(node: exp.Expression) -> tuple[int | None, int | None]:
    """The line and column where a node starts: its first identifier that the tokenizer placed (sqlglot
    records where an identifier ends; `commons.orders` starts at `commons`)."""
    places = []
    for identifier in [node, *node.find_all(exp.Identifier)]:
        meta = identifier.meta if isinstance(identifier, exp.Identifier) else {}
        if meta.get("line") and meta.get("col"):
            width = len(identifier.name) + (2 if identifier.quoted else 0)
            places.append((meta["line"], meta["col"] - width + 1))
    return min(places) if places else (None, None)


def unsupported(node: exp.Expression, what: str | None = None) -> QueryError:
    line, column = where_of(node)
    label = what or f"`{node.sql(dialect='presto')[:60]}`"
    return QueryError(f"{label} is not supported by Millrace yet.", line, column)


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


class Translator:
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
        if source is None:
            raise QueryError("The query needs a FROM clause naming a collection.", *where_of(node))
        joins = node.args.get("joins") or []
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
        elif emitted.sql.endswith(".doc_id") and emitted.kind == TEXT and emitted.table:
            name = "_id"
        elif isinstance(inner, exp.Func):
            name = f"?{inner.key.upper()}"
        else:
            name = f"?column{index + 1}"
        if emitted.path is not None or (self.pg and emitted.kind == JSON):
            kind = JSON  # returned as JSON text
        else:
            kind = VALUE if emitted.kind == JSON else emitted.kind  # SQLite's MIN(field): a plain value
        return Column(name, kind), emitted

    def output(self, column: Column, emitted: Sql | None) -> Sql:
        """What the SELECT list returns: JSON text for fields (exact numbers, null told from undefined)."""
        if emitted is None:
            return Sql(f"{column.table}.doc_id, {column.table}.body" + ("::text" if self.pg else ""), STAR)
        if emitted.path is not None and not self.pg:
            return Sql(f"{emitted.table}.body -> '{self.sqlite_path(emitted.path)}'", JSON)
        if emitted.kind == JSON and self.pg:
            return Sql(f"({emitted.sql})::text", JSON, emitted.params)
        return emitted

    def type_rank(self, emitted: Sql) -> Sql:
        """Rockset orders values of different types by type first: boolean < number < string < array <
        object (null and undefined before all). Neither database does: jsonb puts strings below numbers,
        SQLite booleans among the numbers; so the sort's first key is the type's rank."""
        if self.pg:
            ranks = "WHEN 'boolean' THEN 1 WHEN 'number' THEN 2 WHEN 'string' THEN 3 WHEN 'array' THEN 4 "
            return Sql(f"CASE jsonb_typeof({emitted.sql}) {ranks}WHEN 'object' THEN 5 END", NUM, emitted.params)
        if emitted.path is None:
            return Sql(f"CASE typeof({emitted.sql}) WHEN 'integer' THEN 2 WHEN 'real' THEN 2 WHEN 'text' THEN 3 END",
                       NUM, emitted.params)  # fmt: skip
        ranks = "WHEN 'true' THEN 1 WHEN 'false' THEN 1 WHEN 'integer' THEN 2 WHEN 'real' THEN 2 WHEN 'text' THEN 3 "
        ranks += "WHEN 'array' THEN 4 WHEN 'object' THEN 5"
        return Sql(f"CASE json_type({emitted.table}.body, '{self.sqlite_path(emitted.path)}') {ranks} END", NUM)

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

    # Expressions

    def condition(self, node: exp.Expression) -> Sql:
        """An expression where SQL wants a truth value (WHERE, HAVING, AND/OR/NOT operands)."""
        emitted = self.value(node)
        if emitted.kind == JSON:  # `WHERE flag`: true only for a JSON true
            return Sql(f"({emitted.sql} = 'true'::jsonb)" if self.pg else f"({emitted.sql} = 1)", BOOL, emitted.params)
        return emitted

    def value(self, node: exp.Expression) -> Sql:
        method = getattr(self, f"emit_{type(node).__name__.lower()}", None)
        if method is None:
            raise unsupported(node)
        return method(node)

    def emit_paren(self, node: exp.Paren) -> Sql:
        inner = self.value(node.this)
        return Sql(f"({inner.sql})", inner.kind, inner.params, inner.path, table=inner.table)

    def emit_literal(self, node: exp.Literal) -> Sql:
        if node.is_string:
            return Sql("CAST(%s AS text)" if self.pg else "%s", TEXT, (node.this,), constant=True)
        text = node.this
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise unsupported(node) from None
        if self.pg:
            return Sql("CAST(%s AS numeric)", NUM, (int(text) if text.isdigit() else number,), constant=True)
        whole = number == number.to_integral_value() and "." not in text
        return Sql("%s", NUM, (int(number) if whole else number,), constant=True)

    def emit_boolean(self, node: exp.Boolean) -> Sql:
        return Sql("CAST(%s AS boolean)" if self.pg else "%s", BOOL, (bool(node.this),), constant=True)

    def emit_null(self, node: exp.Null) -> Sql:
        return Sql("NULL", NULL)

    def emit_placeholder(self, node: exp.Placeholder) -> Sql:
        name = node.name
        if name not in self.parameters:
            raise QueryError(f"Parameter `:{name}` is used in the query but not given in `sql.parameters`.")
        bound = self.parameters[name]
        if bound.kind == NULL:
            return bound
        cast = {NUM: "numeric", TEXT: "text", BOOL: "boolean"}[bound.kind]
        return Sql(f"CAST(%s AS {cast})" if self.pg else "%s", bound.kind, bound.params, constant=True)

    def emit_neg(self, node: exp.Neg) -> Sql:
        inner = self.number(self.value(node.this))
        return Sql(f"(-{inner.sql})", NUM, inner.params)

    # Document fields

    def emit_column(self, node: exp.Column) -> Sql:
        identifiers = [p for p in node.parts if isinstance(p, exp.Identifier)]
        if len(identifiers) != len(node.parts):
            raise unsupported(node)
        names = [i.name for i in identifiers]
        if len(names) > 2 and f"{names[0]}.{names[1]}" in self.tables:  # commons.orders.status
            return self.field(names[2:], node, self.tables[f"{names[0]}.{names[1]}"])
        if len(names) > 1 and names[0] in self.tables:
            return self.field(names[1:], node, self.tables[names[0]])
        if self.only_table is None:
            raise QueryError(
                f"Field `{'.'.join(names)}` could be in more than one collection of the query; "
                "start it with the collection's alias.",
                *where_of(node),
            )
        return self.field(names, node, self.only_table)

    def emit_dot(self, node: exp.Dot) -> Sql:
        base = self.value(node.this)
        if base.path is None or not isinstance(node.expression, exp.Identifier):
            raise unsupported(node)
        return self.field([*base.path, node.expression.name], node, base.table)

    def emit_bracket(self, node: exp.Bracket) -> Sql:
        base = self.value(node.this)
        if base.path is None or len(node.expressions) != 1 or not isinstance(node.expressions[0], exp.Literal):
            raise unsupported(node, "Indexing other than `field[1]` or `field['key']` is")
        key = node.expressions[0]
        if key.is_string:
            return self.field([*base.path, key.this], node, base.table)
        if not key.this.isdigit() or int(key.this) < 1:
            raise QueryError("Array positions start at 1 in Rockset SQL.", *where_of(node))
        return self.field([*base.path, int(key.this) - 1], node, base.table)  # 1-based in Rockset, 0-based in JSON

    def field(self, path: list[str | int], node: exp.Expression, table: str) -> Sql:
        if path == ["_id"]:
            return Sql(f"{table}.doc_id", TEXT, table=table)
        for key in path:
            if isinstance(key, str) and not SAFE_KEY.match(key):
                raise QueryError(f"Field name {key[:60]!r} is not supported yet in queries.", *where_of(node))
        if self.pg:
            steps = "".join(f" -> {k}" if isinstance(k, int) else f" -> '{k}'" for k in path)
            return Sql(f"({table}.body{steps})", JSON, (), tuple(path), table=table)
        return Sql(f"json_extract({table}.body, '{self.sqlite_path(path)}')", JSON, (), tuple(path), table=table)

    @staticmethod
    def sqlite_path(path: tuple[str | int, ...] | list[str | int]) -> str:
        return "$" + "".join(f"[{k}]" if isinstance(k, int) else f'."{k}"' for k in path)

    # Conversions between JSON and SQL values, on PostgreSQL (SQLite's json_extract already gives values)

    def json(self, emitted: Sql) -> Sql:
        if not self.pg or emitted.kind == JSON:
            return emitted
        if emitted.kind == NULL:
            return emitted
        return Sql(f"to_jsonb({emitted.sql})", JSON, emitted.params)

    def number(self, emitted: Sql) -> Sql:
        """A numeric SQL value, or NULL where the JSON value is not a number (as Rockset's SUM skips it)."""
        if emitted.kind != JSON:
            return emitted
        x = emitted.sql
        if self.pg:
            sql = f"CASE WHEN jsonb_typeof({x}) = 'number' THEN ({x} #>> '{{}}')::numeric END"
        else:
            sql = f"CASE WHEN typeof({x}) IN ('integer', 'real') THEN {x} END"
        return Sql(sql, NUM, emitted.params * 2)

    def text(self, emitted: Sql) -> Sql:
        if emitted.kind != JSON:
            return emitted
        x = emitted.sql
        if self.pg:
            return Sql(f"CASE WHEN jsonb_typeof({x}) = 'string' THEN {x} #>> '{{}}' END", TEXT, emitted.params * 2)
        return Sql(f"CASE WHEN typeof({x}) = 'text' THEN {x} END", TEXT, emitted.params * 2)

    def pair(self, left: exp.Expression, right: exp.Expression) -> tuple[Sql, Sql]:
        a, b = self.value(left), self.value(right)
        if self.pg and JSON in (a.kind, b.kind):
            return self.json(a), self.json(b)
        return a, b

    # Predicates

    def compare(self, node: exp.Binary, operator: str) -> Sql:
        """A field against a number compares as numbers, against a string as strings; a value of another
        type is neither equal, less nor greater (NULL), so `amount > 20` never matches the string 'n/a'
        (SQLite would rank every string above every number; jsonb would rank them below)."""
        a, b = self.value(node.this), self.value(node.expression)
        if operator == "=" and (contained := self.containment(a, b) or self.containment(b, a)):
            return contained
        if JSON in (a.kind, b.kind) and {a.kind, b.kind} & {NUM, TEXT}:
            other = b.kind if a.kind == JSON else a.kind
            convert = self.number if other == NUM else self.text
            a, b = convert(a), convert(b)
        elif self.pg and JSON in (a.kind, b.kind):
            a, b = self.json(a), self.json(b)
        return Sql(f"({a.sql} {operator} {b.sql})", BOOL, a.params + b.params)

    def containment(self, field: Sql, constant: Sql) -> Sql | None:
        """`field = constant` on PostgreSQL as `body @> {"a": {"b": constant}}`: the same answer (a scalar
        is contained only in an equal scalar of its type, 10 in 10.0 too), and the GIN index on the body
        (jsonb_path_ops) can find the documents instead of reading them all."""
        if not (self.pg and field.path and constant.constant and constant.kind in (NUM, TEXT, BOOL)):
            return None
        if not all(isinstance(key, str) for key in field.path):
            return None
        document: Any = constant.params[0]
        for key in reversed(field.path):
            document = {key: document}
        return Sql(f"({field.table}.body @> CAST(%s AS jsonb))", BOOL, (dumps(document),))

    def emit_eq(self, node: exp.EQ) -> Sql:
        return self.compare(node, "=")

    def emit_neq(self, node: exp.NEQ) -> Sql:
        return self.compare(node, "<>")

    def emit_gt(self, node: exp.GT) -> Sql:
        return self.compare(node, ">")

    def emit_gte(self, node: exp.GTE) -> Sql:
        return self.compare(node, ">=")

    def emit_lt(self, node: exp.LT) -> Sql:
        return self.compare(node, "<")

    def emit_lte(self, node: exp.LTE) -> Sql:
        return self.compare(node, "<=")

    def emit_between(self, node: exp.Between) -> Sql:
        low = exp.GTE(this=node.this, expression=node.args["low"])
        high = exp.LTE(this=node.this, expression=node.args["high"])
        a, b = self.emit_gte(low), self.emit_lte(high)
        return Sql(f"({a.sql} AND {b.sql})", BOOL, a.params + b.params)

    def emit_in(self, node: exp.In) -> Sql:
        if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
            raise unsupported(node, "IN with a subquery is")
        subject = self.value(node.this)
        options = [self.value(e) for e in node.expressions]
        if self.pg and JSON in {subject.kind, *(o.kind for o in options)}:
            subject, options = self.json(subject), [self.json(o) for o in options]
        params = subject.params + tuple(p for o in options for p in o.params)
        return Sql(f"({subject.sql} IN ({', '.join(o.sql for o in options)}))", BOOL, params)

    def emit_like(self, node: exp.Like) -> Sql:
        if node.args.get("escape"):
            raise unsupported(node, "LIKE ... ESCAPE is")
        a, b = self.text(self.value(node.this)), self.text(self.value(node.expression))
        return Sql(f"({a.sql} LIKE {b.sql})", BOOL, a.params + b.params)

    def emit_is(self, node: exp.Is) -> Sql:
        if not isinstance(node.expression, exp.Null):
            raise unsupported(node, "IS other than IS [NOT] NULL is")
        subject = self.value(node.this)
        if self.pg and subject.kind == JSON:  # null and undefined are both NULL for IS NULL, as in Rockset
            return Sql(f"(COALESCE(jsonb_typeof({subject.sql}), 'null') = 'null')", BOOL, subject.params)
        return Sql(f"({subject.sql} IS NULL)", BOOL, subject.params)

    def emit_not(self, node: exp.Not) -> Sql:
        inner = self.condition(node.this)
        return Sql(f"(NOT {inner.sql})", BOOL, inner.params)

    def emit_and(self, node: exp.And) -> Sql:
        a, b = self.condition(node.this), self.condition(node.expression)
        return Sql(f"({a.sql} AND {b.sql})", BOOL, a.params + b.params)

    def emit_or(self, node: exp.Or) -> Sql:
        a, b = self.condition(node.this), self.condition(node.expression)
        return Sql(f"({a.sql} OR {b.sql})", BOOL, a.params + b.params)

    # Arithmetic

    def arithmetic(self, node: exp.Binary, operator: str) -> Sql:
        a, b = self.number(self.value(node.this)), self.number(self.value(node.expression))
        return Sql(f"({a.sql} {operator} {b.sql})", NUM, a.params + b.params)

    def emit_add(self, node: exp.Add) -> Sql:
        return self.arithmetic(node, "+")

    def emit_sub(self, node: exp.Sub) -> Sql:
        return self.arithmetic(node, "-")

    def emit_mul(self, node: exp.Mul) -> Sql:
        return self.arithmetic(node, "*")

    # Functions and conditional values

    def common(self, values: list[Sql]) -> list[Sql]:
        """Branches of one value (CASE, COALESCE) in one type on PostgreSQL: jsonb if any branch is a field."""
        if self.pg and any(v.kind == JSON for v in values):
            return [self.json(v) for v in values]
        return values

    def choice(self, conditions: list[Sql], values: list[Sql], default: Sql | None) -> Sql:
        values = self.common([*values, *([default] if default is not None else [])])
        parts, params = ["CASE"], []
        for condition, value in zip(conditions, values, strict=False):
            parts.append(f"WHEN {condition.sql} THEN {value.sql}")
            params += [*condition.params, *value.params]
        if default is not None:
            parts.append(f"ELSE {values[-1].sql}")
            params += values[-1].params
        kinds = {v.kind for v in values} - {NULL}
        kind = JSON if JSON in kinds else kinds.pop() if len(kinds) == 1 else VALUE
        return Sql(" ".join([*parts, "END"]), kind, tuple(params))

    def emit_case(self, node: exp.Case) -> Sql:
        operand = node.this
        conditions = []
        for branch in node.args.get("ifs") or []:
            if operand is not None:
                conditions.append(self.compare(exp.EQ(this=operand, expression=branch.this), "="))
            else:
                conditions.append(self.condition(branch.this))
        values = [self.value(branch.args["true"]) for branch in node.args.get("ifs") or []]
        default = node.args.get("default")
        return self.choice(conditions, values, self.value(default) if default is not None else None)

    def emit_if(self, node: exp.If) -> Sql:
        otherwise = node.args.get("false")
        default = self.value(otherwise) if otherwise is not None else None
        return self.choice([self.condition(node.this)], [self.value(node.args["true"])], default)

    def emit_coalesce(self, node: exp.Coalesce) -> Sql:
        values = self.common([self.value(e) for e in [node.this, *node.expressions]])
        if self.pg and values[0].kind == JSON:  # a JSON null is null to COALESCE, as in Rockset
            values = [Sql(f"NULLIF({v.sql}, 'null'::jsonb)", JSON, v.params) for v in values]
        kinds = {v.kind for v in values} - {NULL}
        kind = JSON if JSON in kinds else kinds.pop() if len(kinds) == 1 else VALUE
        return Sql(f"COALESCE({', '.join(v.sql for v in values)})", kind, tuple(p for v in values for p in v.params))

    def text_function(self, node: exp.Func, function: str, kind: str = TEXT) -> Sql:
        inner = self.text(self.value(node.this))
        return Sql(f"{function}({inner.sql})", kind, inner.params)

    def emit_lower(self, node: exp.Lower) -> Sql:
        return self.text_function(node, "LOWER")

    def emit_upper(self, node: exp.Upper) -> Sql:
        return self.text_function(node, "UPPER")

    def emit_length(self, node: exp.Length) -> Sql:
        return self.text_function(node, "LENGTH", NUM)

    def emit_concat(self, node: exp.Concat) -> Sql:
        parts = [self.text(self.value(e)) for e in node.expressions]
        return Sql("(" + " || ".join(p.sql for p in parts) + ")", TEXT, tuple(p for x in parts for p in x.params))

    def emit_abs(self, node: exp.Abs) -> Sql:
        inner = self.number(self.value(node.this))
        return Sql(f"ABS({inner.sql})", NUM, inner.params)

    # Aggregates

    def emit_count(self, node: exp.Count) -> Sql:
        argument = node.this
        if argument is None or isinstance(argument, exp.Star):
            return Sql("COUNT(*)", NUM)
        distinct = isinstance(argument, exp.Distinct)
        if distinct:
            if len(argument.expressions) != 1:
                raise unsupported(node, "COUNT(DISTINCT) of several expressions is")
            argument = argument.expressions[0]
        counted = self.value(argument)
        if self.pg and counted.kind == JSON:  # a JSON null is not counted, as Rockset's COUNT(x) skips it
            counted = Sql(f"NULLIF({counted.sql}, 'null'::jsonb)", JSON, counted.params)
        return Sql(f"COUNT({'DISTINCT ' if distinct else ''}{counted.sql})", NUM, counted.params)

    def emit_sum(self, node: exp.Sum) -> Sql:
        inner = self.number(self.value(node.this))
        return Sql(f"SUM({inner.sql})", NUM, inner.params)

    def emit_avg(self, node: exp.Avg) -> Sql:
        # A float, as Rockset's AVG returns; on PostgreSQL the numeric average would carry 16 decimals.
        inner = self.number(self.value(node.this))
        cast = "double precision" if self.pg else "REAL"
        return Sql(f"CAST(AVG({inner.sql}) AS {cast})", NUM, inner.params)

    def extreme(self, node: exp.Expression, function: str) -> Sql:
        """MIN/MAX over a field: over its numbers if it has any, else over its strings, on both databases
        (PostgreSQL has no MIN over jsonb; SQLite would rank any string above every number)."""
        emitted = self.value(node.this)
        if emitted.kind != JSON:
            return Sql(f"{function}({emitted.sql})", emitted.kind, emitted.params)
        number, text = self.number(emitted), self.text(emitted)
        if self.pg:
            sql = f"COALESCE(to_jsonb({function}({number.sql})), to_jsonb({function}({text.sql})))"
        else:
            sql = f"COALESCE({function}({number.sql}), {function}({text.sql}))"
        return Sql(sql, JSON, number.params + text.params)

    def emit_min(self, node: exp.Min) -> Sql:
        return self.extreme(node, "MIN")

    def emit_max(self, node: exp.Max) -> Sql:
        return self.extreme(node, "MAX")


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
