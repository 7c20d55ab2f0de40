"""Rockset SQL expressions → SQL over a document's JSON body, one `emit_<node>` method per sqlglot node
type the translator accepts (anything else is refused by `value`). Field references are JSON (`jsonb` on
PostgreSQL, a `json_extract` value on SQLite); the conversions here give them a number's or a string's
meaning where Rockset does, the same on both databases."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlglot import exp

from ingest.convert import dumps
from queries.errors import QueryError
from queries.sql import (
    BOOL,
    DOC,
    IV,
    JSON,
    MI,
    NULL,
    NUM,
    SAFE_KEY,
    TEXT,
    TIME,
    TIMES,
    VALUE,
    Sql,
    unsupported,
    where_of,
)


class Expressions:
    """The expression half of the Translator (see queries/translate.py), which sets these attributes."""

    pg: bool
    parameters: dict[str, Sql]

    def condition(self, node: exp.Expression) -> Sql:
        """An expression where SQL wants a truth value (WHERE, HAVING, AND/OR/NOT operands)."""
        emitted = self.scalar(self.value(node))
        if emitted.kind == JSON:  # `WHERE flag`: true only for a JSON true
            return Sql(f"({emitted.sql} = 'true'::jsonb)" if self.pg else f"({emitted.sql} = 1)", BOOL, emitted.params)
        if emitted.kind == NULL:
            return replace(self.typed_null("boolean"), kind=BOOL)
        if emitted.kind != BOOL:
            raise QueryError(f"A condition is expected here, not a {emitted.kind}.", *where_of(node))
        return emitted

    def value(self, node: exp.Expression | None) -> Sql:
        if node is None:  # an optional argument of sqlglot's that Rockset requires, left out (`JSON_FORMAT()`)
            raise QueryError("A function is missing an argument.")
        method = getattr(self, f"emit_{type(node).__name__.lower()}", None)
        if method is None:
            raise unsupported(node)
        if isinstance(node, exp.Func):  # the parser lets `CEIL()` through without its argument
            for key, required in node.arg_types.items():
                if required is True and node.args.get(key) is None and key != "expressions":
                    raise QueryError(f"{node.sql_name()} is missing an argument.", *where_of(node))
        return method(node)

    def emit_paren(self, node: exp.Paren) -> Sql:
        inner = self.value(node.this)
        return Sql(f"({inner.sql})", inner.kind, inner.params, inner.path, table=inner.table, label=inner.label)

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
        cast = {NUM: "numeric", TEXT: "text", BOOL: "boolean"}.get(bound.kind, "bigint")  # times: microseconds
        return Sql(f"CAST(%s AS {cast})" if self.pg else "%s", bound.kind, bound.params, constant=True)

    def emit_neg(self, node: exp.Neg) -> Sql:
        inner = self.number(self.value(node.this))
        return Sql(f"(-{inner.sql})", NUM, inner.params)

    # Document fields

    def emit_column(self, node: exp.Column) -> Sql:
        identifiers = [p for p in node.parts if isinstance(p, exp.Identifier)]
        if len(identifiers) != len(node.parts):
            raise unsupported(node)
        return self.resolve_field([i.name for i in identifiers], node)

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
        """A field of the JSON document `table` (SQL: a documents row's body, a derived table's column)."""
        for key in path:
            if isinstance(key, str) and not SAFE_KEY.match(key):
                raise QueryError(f"Field name {key[:60]!r} is not supported yet in queries.", *where_of(node))
        if self.pg:
            steps = "".join(f" -> {k}" if isinstance(k, int) else f" -> '{k}'" for k in path)
            return Sql(f"({table}{steps})", JSON, (), tuple(path), table=table)
        return Sql(f"json_extract({table}, '{self.sqlite_path(path)}')", JSON, (), tuple(path), table=table)

    @staticmethod
    def sqlite_path(path: tuple[str | int, ...] | list[str | int]) -> str:
        return "$" + "".join(f"[{k}]" if isinstance(k, int) else f'."{k}"' for k in path)

    # Conversions between JSON and SQL values, on PostgreSQL (SQLite's json_extract already gives values)

    def scalar(self, emitted: Sql) -> Sql:
        """A computed JSON value on SQLite (JSON text) as json_extract gives a field: what comparisons and
        conversions expect."""
        if emitted.kind == DOC:
            return Sql(f"json_extract({emitted.sql}, '$')", JSON, emitted.params)
        return emitted

    def jtext(self, emitted: Sql) -> Sql:
        """Any value as JSON text on SQLite (NULL stays NULL: undefined), for the JSON functions' arguments."""
        if emitted.kind == DOC or emitted.kind == NULL:
            return emitted
        if emitted.path is not None:
            return Sql(f"({emitted.table} -> '{self.sqlite_path(emitted.path)}')", DOC, emitted.params)
        if emitted.kind == BOOL:
            return Sql(f"CASE WHEN {emitted.sql} THEN 'true' WHEN NOT {emitted.sql} THEN 'false' END", DOC,
                       emitted.params * 2)  # fmt: skip
        return Sql(f"json_quote({emitted.sql})", DOC, emitted.params)

    def json(self, emitted: Sql) -> Sql:
        if not self.pg or emitted.kind == JSON:
            return emitted
        if emitted.kind == NULL:
            return Sql("CAST(NULL AS jsonb)", JSON)
        if emitted.kind in (*TIMES, TIME):  # as Rockset writes a time
            emitted = self.as_string(emitted)
        return Sql(f"to_jsonb({emitted.sql})", JSON, emitted.params)

    def typed_null(self, cast: str) -> Sql:
        """A NULL PostgreSQL can place (an untyped one makes `SUM(NULL)` ambiguous to it)."""
        return Sql(f"CAST(NULL AS {cast})" if self.pg else "NULL", NULL)

    def number(self, emitted: Sql) -> Sql:
        """A numeric SQL value, or NULL where the value is not a number (as Rockset's SUM skips it)."""
        emitted = self.scalar(emitted)
        if emitted.kind == NUM:
            return emitted
        if emitted.kind in (NULL, TEXT, BOOL):
            return replace(self.typed_null("numeric"), kind=NUM)
        if emitted.kind != JSON:
            raise QueryError(f"A number is expected here, not a {emitted.kind}.")
        x = emitted.sql
        if self.pg:
            # jsonb's number cast straight to numeric, exact (no detour through its text)
            sql = f"CASE WHEN jsonb_typeof({x}) = 'number' THEN ({x})::numeric END"
        else:
            sql = f"CASE WHEN typeof({x}) IN ('integer', 'real') THEN {x} END"
        return Sql(sql, NUM, emitted.params * 2)

    def text(self, emitted: Sql) -> Sql:
        """A string: a JSON value's if it is one (NULL for other JSON values), any other value written out
        (a number's digits, a time in ISO 8601), as CONCAT and LIKE want them."""
        emitted = self.scalar(emitted)
        if emitted.kind == TEXT:
            return emitted
        if emitted.kind == NULL:
            return replace(self.typed_null("text"), kind=TEXT)
        if emitted.kind != JSON:
            return self.as_string(emitted)
        x = emitted.sql
        if self.pg:
            return Sql(f"CASE WHEN jsonb_typeof({x}) = 'string' THEN {x} #>> '{{}}' END", TEXT, emitted.params * 2)
        return Sql(f"CASE WHEN typeof({x}) = 'text' THEN {x} END", TEXT, emitted.params * 2)

    def pair(self, left: exp.Expression, right: exp.Expression) -> tuple[Sql, Sql]:
        a, b = self.scalar(self.value(left)), self.scalar(self.value(right))
        if self.pg and JSON in (a.kind, b.kind):
            return self.json(a), self.json(b)
        return a, b

    # Predicates

    def compare(self, node: exp.Binary, operator: str) -> Sql:
        return self.compared(self.value(node.this), operator, self.value(node.expression), node)

    def compared(self, a: Sql, operator: str, b: Sql, node: exp.Expression) -> Sql:
        """A field against a number compares as numbers, against a string as strings; a value of another
        type is neither equal, less nor greater (NULL), so `amount > 20` never matches the string 'n/a'
        (SQLite would rank every string above every number; jsonb would rank them below). `node` is where
        the comparison is written, for errors. (The parsed tree is shared between translations of the same
        text, see queries/dialect.py, so nothing here builds new nodes around its nodes.)"""
        a, b = self.scalar(a), self.scalar(b)
        if a.kind in (*TIMES, TIME, IV, MI) or b.kind in (*TIMES, TIME, IV, MI):
            a, b = self.times_compared(node, a, b)
        if operator == "=" and (contained := self.containment(a, b) or self.containment(b, a)):
            return contained
        if a.kind != b.kind and {a.kind, b.kind} <= {NUM, TEXT, BOOL}:  # values of two types: neither = nor <
            return replace(self.typed_null("boolean"), kind=BOOL)
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
        return Sql(f"({field.table} @> CAST(%s AS jsonb))", BOOL, (dumps(document),))

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
        a = self.compared(self.value(node.this), ">=", self.value(node.args["low"]), node)
        b = self.compared(self.value(node.this), "<=", self.value(node.args["high"]), node)
        return Sql(f"({a.sql} AND {b.sql})", BOOL, a.params + b.params)

    def emit_in(self, node: exp.In) -> Sql:
        if node.args.get("unnest") or node.args.get("field"):
            raise unsupported(node, "IN UNNEST is")
        subject = self.scalar(self.value(node.this))
        if node.args.get("query"):
            return self.in_subquery(subject, node.args["query"])
        options = [self.scalar(self.value(e)) for e in node.expressions]
        kinds = {o.kind for o in options}
        if subject.kind == JSON and kinds in ({NUM}, {TEXT}):  # typed, as `=` is: 1 doesn't match true
            subject = self.number(subject) if kinds == {NUM} else self.text(subject)
        elif self.pg and JSON in {subject.kind, *kinds}:
            subject, options = self.json(subject), [self.json(o) for o in options]
        params = subject.params + tuple(p for o in options for p in o.params)
        return Sql(f"({subject.sql} IN ({', '.join(o.sql for o in options)}))", BOOL, params)

    def emit_like(self, node: exp.Like) -> Sql:
        if node.args.get("escape"):
            raise unsupported(node, "LIKE ... ESCAPE is")
        a, b = self.text(self.value(node.this)), self.text(self.value(node.expression))
        return Sql(f"({a.sql} LIKE {b.sql})", BOOL, a.params + b.params)

    def emit_escape(self, node: exp.Escape) -> Sql:
        """`x LIKE 'a!%' ESCAPE '!'`: the escape is one character, written in the query (or a parameter)."""
        like = node.this
        if not isinstance(like, exp.Like):
            raise unsupported(node, "ESCAPE other than after LIKE is")
        escape = self.constant_text(node.expression, "The ESCAPE character")
        if len(escape) != 1:
            raise QueryError("The ESCAPE of a LIKE is one character.", *where_of(node))
        a, b = self.text(self.value(like.this)), self.text(self.value(like.expression))
        return Sql(f"({a.sql} LIKE {b.sql} ESCAPE %s)", BOOL, (*a.params, *b.params, escape))

    def emit_is(self, node: exp.Is) -> Sql:
        if not isinstance(node.expression, exp.Null):
            raise unsupported(node, "IS other than IS [NOT] NULL is")
        subject = self.scalar(self.value(node.this))
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
        a, b = self.value(node.this), self.value(node.expression)
        if operator in "+-" and {a.kind, b.kind} & {*TIMES, TIME, IV, MI}:
            return self.time_arithmetic(node, a, operator, b)
        a, b = self.number(a), self.number(b)
        return Sql(f"({a.sql} {operator} {b.sql})", NUM, a.params + b.params)

    def emit_add(self, node: exp.Add) -> Sql:
        return self.arithmetic(node, "+")

    def emit_sub(self, node: exp.Sub) -> Sql:
        return self.arithmetic(node, "-")

    def emit_mul(self, node: exp.Mul) -> Sql:
        return self.arithmetic(node, "*")

    def emit_div(self, node: exp.Div) -> Sql:
        """A float on both databases (PostgreSQL's numeric quotient would carry 16 decimals, SQLite's integer
        one would drop them); NULL for a division by zero."""
        a, b = self.number(self.value(node.this)), self.number(self.value(node.expression))
        cast = "double precision" if self.pg else "REAL"
        return Sql(f"(CAST({a.sql} AS {cast}) / NULLIF({b.sql}, 0))", NUM, a.params + b.params)

    def emit_mod(self, node: exp.Mod) -> Sql:
        a, b = self.number(self.value(node.this)), self.number(self.value(node.expression))
        sql = f"MOD({a.sql}, NULLIF({b.sql}, 0))" if self.pg else f"({a.sql} % NULLIF({b.sql}, 0))"
        return Sql(sql, NUM, a.params + b.params)

    # Functions and conditional values

    def common(self, values: list[Sql]) -> list[Sql]:
        """Branches of one value (CASE, COALESCE) in one type on PostgreSQL: jsonb if any branch is a field."""
        values = [self.scalar(v) for v in values]
        kinds = {v.kind for v in values} - {NULL}
        if len(kinds) > 1 and not self.pg:  # different types: as JSON, which any value is
            return [self.jtext(self.as_string(v) if v.kind in (*TIMES, TIME) else v) for v in values]
        if self.pg and (JSON in kinds or len(kinds) > 1):
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
                conditions.append(self.compared(self.value(operand), "=", self.value(branch.this), branch))
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
        if len(values) == 1:
            return values[0]
        if self.pg and values[0].kind == JSON:  # a JSON null is null to COALESCE, as in Rockset
            values = [Sql(f"NULLIF({v.sql}, 'null'::jsonb)", JSON, v.params) for v in values]
        elif values[0].kind == DOC:
            values = [Sql(f"NULLIF({v.sql}, 'null')", DOC, v.params) for v in values]
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

    def emit_concat(self, node: exp.Concat) -> Sql:
        parts = [self.text(self.value(e)) for e in node.expressions]
        return Sql("(" + " || ".join(p.sql for p in parts) + ")", TEXT, tuple(p for x in parts for p in x.params))

    def emit_abs(self, node: exp.Abs) -> Sql:
        inner = self.number(self.value(node.this))
        return Sql(f"ABS({inner.sql})", NUM, inner.params)

    def emit_substring(self, node: exp.Substring) -> Sql:
        """SUBSTR(s, start[, length]), 1-based on Rockset and on both databases."""
        if node.args.get("start") is None:
            raise QueryError("SUBSTR needs a start position: SUBSTR(s, start[, length]).", *where_of(node))
        pieces = [self.text(self.value(node.this))]
        for key in ("start", "length"):
            if node.args.get(key) is not None:
                number = self.number(self.value(node.args[key]))
                pieces.append(Sql(f"CAST({number.sql} AS integer)" if self.pg else number.sql, NUM, number.params))
        return Sql(f"SUBSTR({', '.join(p.sql for p in pieces)})", TEXT, tuple(x for p in pieces for x in p.params))

    def emit_replace(self, node: exp.Replace) -> Sql:
        """REPLACE(s, search[, replacement]): without a replacement, Rockset removes `search`."""
        removed = exp.Literal.string("")
        parts = [self.text(self.value(node.args.get(key) or removed)) for key in ("this", "expression", "replacement")]
        return Sql(f"REPLACE({', '.join(p.sql for p in parts)})", TEXT, tuple(x for p in parts for x in p.params))

    def emit_startswith(self, node: exp.StartsWith) -> Sql:
        subject, prefix = self.text(self.value(node.this)), self.text(self.value(node.expression))
        sql = f"(SUBSTR({subject.sql}, 1, LENGTH({prefix.sql})) = {prefix.sql})"
        return Sql(sql, BOOL, subject.params + prefix.params * 2)

    def emit_anonymous(self, node: exp.Anonymous) -> Sql:
        """Functions sqlglot has no node for: each a `fn_<name>` method, and only those."""
        method = getattr(self, f"fn_{node.name.lower()}", None)
        if method is None:
            raise unsupported(node, f"Function {node.name.upper()}")
        return method(node)

    def fn_cardinality(self, node: exp.Anonymous) -> Sql:
        return self.array_size(self.arguments(node, 1)[0])

    # Aggregates

    def emit_countif(self, node: exp.CountIf) -> Sql:
        condition = self.condition(node.this)
        return self.aggregated(f"COUNT(CASE WHEN {condition.sql} THEN 1 END)", NUM, condition.params)

    def emit_count(self, node: exp.Count) -> Sql:
        argument = node.this
        if argument is None or isinstance(argument, exp.Star):
            return self.aggregated("COUNT(*)", NUM, ())
        distinct = isinstance(argument, exp.Distinct)
        if distinct:
            if len(argument.expressions) != 1:
                raise unsupported(node, "COUNT(DISTINCT) of several expressions is")
            argument = argument.expressions[0]
        return self.counted(argument, distinct)

    def counted(self, argument: exp.Expression, distinct: bool) -> Sql:
        counted = self.scalar(self.value(argument))
        if self.pg and counted.kind == JSON:  # a JSON null is not counted, as Rockset's COUNT(x) skips it
            counted = Sql(f"NULLIF({counted.sql}, 'null'::jsonb)", JSON, counted.params)
        return self.aggregated(f"COUNT({'DISTINCT ' if distinct else ''}{counted.sql})", NUM, counted.params)

    def emit_sum(self, node: exp.Sum) -> Sql:
        inner = self.number(self.value(node.this))
        return self.aggregated(f"SUM({inner.sql})", NUM, inner.params)

    def emit_avg(self, node: exp.Avg) -> Sql:
        # A float, as Rockset's AVG returns; on PostgreSQL the numeric average would carry 16 decimals.
        inner = self.number(self.value(node.this))
        cast = "double precision" if self.pg else "REAL"
        average = self.aggregated(f"AVG({inner.sql})", NUM, inner.params)
        return Sql(f"CAST({average.sql} AS {cast})", NUM, average.params)

    def extreme(self, node: exp.Expression, function: str) -> Sql:
        """MIN/MAX over a field: over its numbers if it has any, else over its strings, on both databases
        (PostgreSQL has no MIN over jsonb; SQLite would rank any string above every number)."""
        emitted = self.scalar(self.value(node.this))
        if emitted.kind == NULL:
            return emitted
        if emitted.kind != JSON:
            return self.aggregated(f"{function}({emitted.sql})", emitted.kind, emitted.params)
        number = self.aggregated(f"{function}({self.number(emitted).sql})", NUM, self.number(emitted).params)
        text = self.aggregated(f"{function}({self.text(emitted).sql})", TEXT, self.text(emitted).params)
        if self.pg:
            sql = f"COALESCE(to_jsonb({number.sql}), to_jsonb({text.sql}))"
        else:
            sql = f"COALESCE({number.sql}, {text.sql})"
        return Sql(sql, JSON, number.params + text.params)

    def emit_min(self, node: exp.Min) -> Sql:
        return self.extreme(node, "MIN")

    def emit_max(self, node: exp.Max) -> Sql:
        return self.extreme(node, "MAX")

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
        return Sql(f"CASE json_type({emitted.table}, '{self.sqlite_path(emitted.path)}') {ranks} END", NUM)
