"""Rockset's functions over strings, numbers, arrays and JSON, the same answers on both databases.

A computed array or object is jsonb on PostgreSQL and JSON text (kind DOC) on SQLite; array work that SQL
has no function for runs as a subquery over the array's elements (`jsonb_array_elements` / `json_each`),
which reads only the value it is given. What SQLite can't do at all (regular expressions, splitting) is a
Python function registered on its connection (queries/sqlite_functions.py).
"""

from __future__ import annotations

from sqlglot import exp

from queries.errors import QueryError
from queries.sql import BOOL, DATE, DOC, DT, JSON, NULL, NUM, TEXT, TIME, TIMES, TS, Sql, unsupported, where_of

CAST_TYPES = {
    "TEXT": TEXT, "VARCHAR": TEXT, "CHAR": TEXT, "NVARCHAR": TEXT, "NCHAR": TEXT,
    "INT": "int", "BIGINT": "int", "SMALLINT": "int", "TINYINT": "int",
    "FLOAT": "float", "DOUBLE": "float", "DECIMAL": "float",
    "BOOLEAN": BOOL, "TIMESTAMP": TS, "TIMESTAMPTZ": TS, "DATETIME": DT, "DATE": DATE,
}  # fmt: skip
CAST_FAILED = "millrace: CAST could not convert "  # the start of the error a failed CAST raises on PostgreSQL
WHOLE = r"^\s*[-+]?\d+\s*$"
DECIMAL = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
# One element of json_each as JSON text (its `value` is an SQL value, and true is 1 there)
EACH_TEXT = ("CASE {0}.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'null' THEN 'null' "
             "WHEN 'text' THEN json_quote({0}.value) ELSE CAST({0}.value AS TEXT) END")  # fmt: skip
TYPE_NAMES_PG = ("CASE jsonb_typeof({0}) WHEN 'number' THEN CASE WHEN ({0} #>> '{{}}') ~ '[.eE]' THEN 'float' "
                 "ELSE 'int' END WHEN 'boolean' THEN 'bool' WHEN 'string' THEN 'string' WHEN 'null' THEN 'null' "
                 "WHEN 'array' THEN 'array' WHEN 'object' THEN 'object' ELSE 'undefined' END")  # fmt: skip
TYPE_NAMES_SQLITE = ("CASE json_type({0}) WHEN 'integer' THEN 'int' WHEN 'real' THEN 'float' WHEN 'true' THEN "
                     "'bool' WHEN 'false' THEN 'bool' WHEN 'text' THEN 'string' WHEN 'null' THEN 'null' "
                     "WHEN 'array' THEN 'array' WHEN 'object' THEN 'object' ELSE 'undefined' END")  # fmt: skip


class Functions:
    """The function half of the expressions (see queries/expressions.py)."""

    pg: bool

    def arguments(self, node: exp.Func, least: int, most: int | None = None) -> list[exp.Expression]:
        found = list(node.expressions)
        most = least if most is None else most
        if not least <= len(found) <= most:
            count = str(least) if least == most else f"{least} to {most}"
            raise QueryError(f"{node.name.upper()} takes {count} argument(s).", *where_of(node))
        return found

    def doc(self, sql: str, params: tuple = ()) -> Sql:
        return Sql(sql, JSON if self.pg else DOC, params)

    def any_json(self, emitted: Sql) -> Sql:
        """jsonb on PostgreSQL, JSON text on SQLite."""
        return self.json(emitted) if self.pg else self.jtext(emitted)

    def boolean(self, emitted: Sql) -> Sql:
        """A truth value where the value is a boolean, NULL for anything else (as Rockset's BOOL_AND skips)."""
        if emitted.kind in (BOOL, NULL):
            return emitted
        if emitted.kind not in (JSON, DOC):
            return Sql("NULL", NULL)
        j = self.any_json(emitted)
        if self.pg:
            return Sql(f"CASE WHEN jsonb_typeof({j.sql}) = 'boolean' THEN ({j.sql})::boolean END", BOOL, j.params * 2)
        return Sql(f"CASE json_type({j.sql}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END", BOOL, j.params)

    # CAST fails the query on a value that doesn't convert, as Rockset's does; TRY_CAST makes it NULL

    def emit_cast(self, node: exp.Cast) -> Sql:
        converted = self.try_cast(node)
        value = self.scalar(self.value(node.this))
        if converted.kind == NULL or value.kind in (NULL, *TIMES, TIME) or converted.sql == value.sql:
            return converted
        if value.kind in (JSON, DOC):
            j = self.any_json(value)
            present = (f"COALESCE(jsonb_typeof({j.sql}), 'null') <> 'null'" if self.pg
                       else f"COALESCE(json_type({j.sql}), 'null') <> 'null'")  # fmt: skip
        else:
            j = value
            present = f"{value.sql} IS NOT NULL"
        shown = self.as_string(value)
        if self.pg:
            # An error PostgreSQL raises on the row that doesn't convert (run.py reports it as CAST's). The
            # stable function keeps the planner from raising it while folding constants, where the value is
            # written in the query and converts.
            failed = (f"CAST('{CAST_FAILED}' || COALESCE({shown.sql}, {j.sql}::text) || "
                      f"left(statement_timestamp()::text, 0) AS bigint)")  # fmt: skip
            failed = {TEXT: f"CAST({failed} AS text)", BOOL: f"({failed} <> 0)"}.get(converted.kind, failed)
            failed_params = shown.params + j.params
        else:
            failed, failed_params = f"millrace_cast_failed({shown.sql})", shown.params
        sql = f"CASE WHEN {converted.sql} IS NULL AND {present} THEN {failed} ELSE {converted.sql} END"
        return Sql(sql, converted.kind, (*converted.params, *j.params, *failed_params, *converted.params))

    def emit_trycast(self, node: exp.TryCast) -> Sql:
        return self.try_cast(node)

    def try_cast(self, node: exp.Cast) -> Sql:
        target = CAST_TYPES.get(node.to.this.name)
        if target is None:
            raise unsupported(node, f"CAST to {node.to.sql()}")
        value = self.value(node.this)
        if target == TEXT:
            return self.as_string(value)
        if target in ("int", "float"):
            return self.as_number(value, target == "int")
        if target == BOOL:
            return self.as_boolean(value)
        if value.kind in (*TIMES, TIME):
            moment = self.micros(value, node.this)
            return self.truncated(Sql(moment.sql, DATE, moment.params), "day") if target == DATE else (
                Sql(moment.sql, target, moment.params))  # fmt: skip
        if value.kind in (TEXT, JSON, DOC):
            return self.parsed(self.text(value), target)
        if value.kind == NULL:
            return value
        raise QueryError(f"A {value.kind} can't be cast to {target}.", *where_of(node))

    def as_string(self, value: Sql) -> Sql:
        if value.kind in (TEXT, NULL):
            return value
        if value.kind == NUM:
            return Sql(f"CAST({value.sql} AS {'text' if self.pg else 'TEXT'})", TEXT, value.params)
        if value.kind == BOOL:
            return Sql(
                f"CASE WHEN {value.sql} THEN 'true' WHEN NOT {value.sql} THEN 'false' END", TEXT, value.params * 2
            )
        if value.kind in (*TIMES, TIME):
            moment = self.micros(value, exp.Null())
            return self.formatted(moment, {DT: "%Y-%m-%dT%H:%M:%S.%f", DATE: "%Y-%m-%d"}.get(moment.kind,
                                  "%Y-%m-%dT%H:%M:%S.%fZ"))  # fmt: skip
        j = self.any_json(value)
        if self.pg:
            sql = f"CASE WHEN jsonb_typeof({j.sql}) IN ('string', 'number', 'boolean') THEN {j.sql} #>> '{{}}' END"
            return Sql(sql, TEXT, j.params * 2)
        sql = (f"CASE json_type({j.sql}) WHEN 'text' THEN json_extract({j.sql}, '$') WHEN 'integer' THEN {j.sql} "
               f"WHEN 'real' THEN {j.sql} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' END")  # fmt: skip
        return Sql(sql, TEXT, j.params * 4)

    def as_number(self, value: Sql, whole: bool) -> Sql:
        if value.kind == NULL:
            return value
        if value.kind == BOOL:
            return Sql(f"CASE WHEN {value.sql} THEN 1 WHEN NOT {value.sql} THEN 0 END", NUM, value.params * 2)
        parts = []
        if value.kind in (NUM, JSON, DOC):
            number = self.number(value)
            if whole:
                number = Sql(
                    f"TRUNC({number.sql})" if self.pg else f"CAST({number.sql} AS INTEGER)", NUM, number.params
                )
            parts.append(number)
        if value.kind in (TEXT, JSON, DOC):
            text = self.text(value)
            if self.pg:
                cast = f"CASE WHEN {text.sql} ~ %s THEN CAST({text.sql} AS numeric) END"
                parts.append(Sql(cast, NUM, (*text.params, WHOLE if whole else DECIMAL, *text.params)))
            else:
                parts.append(Sql(f"millrace_to_number({text.sql}, {int(whole)})", NUM, text.params))
        if value.kind in (JSON, DOC):
            parts.append(self.as_number(self.boolean(value), whole))
        if not parts:
            raise QueryError(f"A {value.kind} can't be cast to a number.")
        if len(parts) == 1:
            return parts[0]
        return Sql(f"COALESCE({', '.join(p.sql for p in parts)})", NUM, tuple(x for p in parts for x in p.params))

    def as_boolean(self, value: Sql) -> Sql:
        if value.kind in (BOOL, NULL):
            return value
        parts = []
        if value.kind in (JSON, DOC):
            parts.append(self.boolean(value))
        if value.kind in (TEXT, JSON, DOC):
            text = self.text(value)
            parts.append(Sql(f"CASE LOWER({text.sql}) WHEN 'true' THEN true WHEN 'false' THEN false END", BOOL,
                             text.params))  # fmt: skip
        if value.kind in (NUM, JSON, DOC):
            number = self.number(value)
            parts.append(Sql(f"({number.sql} <> 0)", BOOL, number.params))
        if not parts:
            raise QueryError(f"A {value.kind} can't be cast to a boolean.")
        if len(parts) == 1:
            return parts[0]
        return Sql(f"COALESCE({', '.join(p.sql for p in parts)})", BOOL, tuple(x for p in parts for x in p.params))

    # Strings and regular expressions

    def emit_strposition(self, node: exp.StrPosition) -> Sql:
        if node.args.get("position") or node.args.get("occurrence"):
            raise unsupported(node, "STRPOS from a position is")
        text, part = self.text(self.value(node.this)), self.text(self.value(node.args["substr"]))
        return Sql(f"{'STRPOS' if self.pg else 'INSTR'}({text.sql}, {part.sql})", NUM, text.params + part.params)

    def emit_regexplike(self, node: exp.RegexpLike) -> Sql:
        if node.args.get("flag"):
            raise unsupported(node, "REGEXP_LIKE with flags is")
        text, pattern = self.text(self.value(node.this)), self.text(self.value(node.expression))
        sql = f"({text.sql} ~ {pattern.sql})" if self.pg else f"millrace_regexp_like({text.sql}, {pattern.sql})"
        return Sql(sql, BOOL, text.params + pattern.params)

    def emit_regexpextract(self, node: exp.RegexpExtract) -> Sql:
        """REGEXP_EXTRACT(s, pattern[, group]): the first match, or its group; group 0 is the whole match."""
        if node.args.get("position") or node.args.get("occurrence") or node.args.get("parameters"):
            raise unsupported(node, "REGEXP_EXTRACT with more than three arguments is")
        text, pattern = self.text(self.value(node.this)), self.text(self.value(node.expression))
        group = self.number(self.value(node.args["group"])) if node.args.get("group") else Sql("0", NUM)
        if self.pg:  # wrapped in a group of its own, so group 0 is the whole match and n is n
            sql = f"(regexp_match({text.sql}, '(' || {pattern.sql} || ')'))[CAST({group.sql} AS integer) + 1]"
        else:
            sql = f"millrace_regexp_extract({text.sql}, {pattern.sql}, CAST({group.sql} AS INTEGER))"
        return Sql(sql, TEXT, text.params + pattern.params + group.params)

    def emit_split(self, node: exp.Split) -> Sql:
        if node.args.get("limit"):
            raise unsupported(node, "SPLIT with a limit is")
        text, delimiter = self.text(self.value(node.this)), self.text(self.value(node.expression))
        if self.pg:
            return self.doc(f"to_jsonb(string_to_array({text.sql}, {delimiter.sql}))", text.params + delimiter.params)
        return self.doc(f"millrace_split({text.sql}, {delimiter.sql})", text.params + delimiter.params)

    def emit_length(self, node: exp.Length) -> Sql:
        """LENGTH of a string, or the number of elements of an array or an object, as Rockset's."""
        value = self.value(node.this)
        if value.kind not in (JSON, DOC):
            return self.text_function(node, "LENGTH", NUM)
        j = self.any_json(value)
        if self.pg:
            # an object's keys without a subquery, which GROUP BY would refuse (`GROUP BY tags` ... LENGTH(tags))
            sql = (f"CASE jsonb_typeof({j.sql}) WHEN 'string' THEN LENGTH({j.sql} #>> '{{}}') WHEN 'array' THEN "
                   f"jsonb_array_length({j.sql}) WHEN 'object' THEN "
                   f"jsonb_array_length(jsonb_path_query_array({j.sql}, '$.keyvalue()')) END")  # fmt: skip
        else:
            sql = (
                f"CASE json_type({j.sql}) WHEN 'text' THEN LENGTH(json_extract({j.sql}, '$')) WHEN 'array' THEN "
                f"json_array_length({j.sql}) WHEN 'object' THEN (SELECT COUNT(*) FROM json_each({j.sql})) END"
            )
        return Sql(sql, NUM, j.params * 4)

    # Numbers

    def rounding(self, node: exp.Func, function: str) -> Sql:
        number = self.number(self.value(node.this))
        digits = node.args.get("decimals") or node.args.get("expression")
        if digits is None:
            return Sql(f"{function}({number.sql})", NUM, number.params)
        places = self.number(self.value(digits))
        if self.pg and function in ("ROUND", "TRUNC"):  # numeric, which rounds exactly (AVG and `/` give floats)
            sql = f"{function}(CAST({number.sql} AS numeric), CAST({places.sql} AS integer))"
            return Sql(sql, NUM, number.params + places.params)
        if function == "ROUND":
            return Sql(f"ROUND({number.sql}, {places.sql})", NUM, number.params + places.params)
        if self.pg:  # FLOOR and CEIL take no places on PostgreSQL either
            number = Sql(f"CAST({number.sql} AS numeric)", NUM, number.params)
        sql = f"({function}({number.sql} * POWER(10, {places.sql})) / POWER(10, {places.sql}))"
        return Sql(sql, NUM, number.params + places.params * 2)

    def emit_round(self, node: exp.Round) -> Sql:
        return self.rounding(node, "ROUND")

    def emit_trunc(self, node: exp.Trunc) -> Sql:
        return self.rounding(node, "TRUNC")

    def emit_floor(self, node: exp.Floor) -> Sql:
        return self.rounding(node, "FLOOR")

    def emit_ceil(self, node: exp.Ceil) -> Sql:
        return self.rounding(node, "CEIL")

    def extremum(self, node: exp.Func, pg_function: str, sqlite_function: str) -> Sql:
        """GREATEST/LEAST over numbers (or over strings when the first argument is a string); NULL when any
        argument is NULL, on both databases (PostgreSQL's own would skip it)."""
        values = [self.value(e) for e in [node.this, *node.expressions]]
        if values[0].kind in (*TIMES, TIME):
            values = [self.micros(v, node) for v in values]
        else:
            convert = self.text if values[0].kind == TEXT else self.number
            values = [convert(v) for v in values]
        params = tuple(p for v in values for p in v.params)
        listed = ", ".join(v.sql for v in values)
        if not self.pg:
            return Sql(f"{sqlite_function}({listed})", values[0].kind, params)
        nulls = " OR ".join(f"{v.sql} IS NULL" for v in values)
        return Sql(f"CASE WHEN {nulls} THEN NULL ELSE {pg_function}({listed}) END", values[0].kind, params * 2)

    def emit_greatest(self, node: exp.Greatest) -> Sql:
        return self.extremum(node, "GREATEST", "MAX")

    def emit_least(self, node: exp.Least) -> Sql:
        return self.extremum(node, "LEAST", "MIN")

    def emit_isnan(self, node: exp.IsNan) -> Sql:
        number = self.number(self.value(node.this))
        sql = f"({number.sql} = 'NaN'::numeric)" if self.pg else f"({number.sql} <> {number.sql})"
        return Sql(sql, BOOL, number.params * (1 if self.pg else 2))

    def emit_nullif(self, node: exp.Nullif) -> Sql:
        condition = self.compared(self.value(node.this), "=", self.value(node.expression), node)
        value = self.scalar(self.value(node.this))
        return Sql(
            f"CASE WHEN {condition.sql} THEN NULL ELSE {value.sql} END", value.kind, condition.params + value.params
        )

    def emit_typeof(self, node: exp.Typeof) -> Sql:
        value = self.value(node.this)
        if value.kind in (*TIMES, TIME):
            return Sql("CAST(%s AS text)" if self.pg else "%s", TEXT, (TS if value.kind == TIME else value.kind,))
        if value.kind == NULL:
            return Sql("CAST(%s AS text)" if self.pg else "%s", TEXT, ("null",))
        j = self.any_json(value)
        sql = (TYPE_NAMES_PG if self.pg else TYPE_NAMES_SQLITE).format(j.sql)
        return Sql(sql, TEXT, j.params * (2 if self.pg else 1))

    # JSON

    def emit_parsejson(self, node: exp.ParseJSON) -> Sql:
        text = self.text(self.value(node.this))
        return self.doc(f"CAST({text.sql} AS jsonb)" if self.pg else f"json({text.sql})", text.params)

    def emit_jsonformat(self, node: exp.JSONFormat) -> Sql:
        """The value's JSON text; PostgreSQL writes it with a space after `,` and `:`, so SQLite's is made so."""
        j = self.any_json(self.value(node.this))
        sql = f"CAST({j.sql} AS text)" if self.pg else f"millrace_json_format({j.sql})"
        return Sql(sql, TEXT, j.params)

    # Arrays

    def emit_array(self, node: exp.Array) -> Sql:
        return self.array_of(node.expressions)

    def fn_array_create(self, node: exp.Anonymous) -> Sql:
        return self.array_of(node.expressions)

    def array_of(self, nodes: list[exp.Expression]) -> Sql:
        if self.pg:
            items = [self.json(self.scalar(self.value(e))) for e in nodes]
            return self.doc(
                f"jsonb_build_array({', '.join(i.sql for i in items)})", tuple(p for i in items for p in i.params)
            )
        items = [self.jtext(self.value(e)) for e in nodes]
        return self.doc(
            f"json_array({', '.join(f'json({i.sql})' for i in items)})", tuple(p for i in items for p in i.params)
        )

    def array_json(self, node: exp.Expression) -> Sql:
        """An array argument as jsonb or JSON text; NULL unless it is an array."""
        j = self.any_json(self.value(node))
        if self.pg:
            return Sql(f"CASE WHEN jsonb_typeof({j.sql}) = 'array' THEN {j.sql} END", JSON, j.params * 2)
        return Sql(f"CASE WHEN json_type({j.sql}) = 'array' THEN {j.sql} END", DOC, j.params * 2)

    def emit_arraysize(self, node: exp.ArraySize) -> Sql:
        return self.array_size(node.this)

    def array_size(self, node: exp.Expression) -> Sql:
        """ARRAY_LENGTH / CARDINALITY: the number of elements of an array; NULL for anything else."""
        array = self.array_json(node)
        return Sql(f"{'jsonb_array_length' if self.pg else 'json_array_length'}({array.sql})", NUM, array.params)

    def emit_arraycontains(self, node: exp.ArrayContains) -> Sql:
        array = self.array_json(node.this)
        if self.pg:
            value = self.json(self.scalar(self.value(node.expression)))
            return Sql(f"({array.sql} @> jsonb_build_array({value.sql}))", BOOL, array.params + value.params)
        value = self.jtext(self.value(node.expression))
        return Sql(f"millrace_array_contains({array.sql}, json({value.sql}))", BOOL, array.params + value.params)

    def fn_element_at(self, node: exp.Anonymous) -> Sql:
        """ELEMENT_AT(array, n) from 1 (from the end when negative), or ELEMENT_AT(object, key)."""
        container, key_node = self.arguments(node, 2)
        j = self.any_json(self.value(container))
        key = self.value(key_node)
        if key.kind not in (NUM, TEXT):
            raise unsupported(key_node, "ELEMENT_AT with a key that is not a number or a string is")
        if key.kind == TEXT:
            path = Sql(key.sql, TEXT, key.params) if self.pg else Sql(f"'$.\"' || {key.sql} || '\"'", TEXT, key.params)
        elif self.pg:
            path = Sql(f"CAST(CASE WHEN {key.sql} > 0 THEN {key.sql} - 1 WHEN {key.sql} < 0 THEN {key.sql} END "
                       "AS integer)", NUM, key.params * 4)  # fmt: skip
        else:
            n = f"CAST({key.sql} AS INTEGER)"
            path = Sql(f"CASE WHEN {n} > 0 THEN '$[' || ({n} - 1) || ']' WHEN {n} < 0 THEN '$[#' || {n} || ']' END",
                       TEXT, key.params * 4)  # fmt: skip
        return self.doc(f"({j.sql} -> ({path.sql}))", j.params + path.params)

    def rebuilt(self, node: exp.Expression, where: str = "", value: Sql | None = None) -> Sql:
        """An array's elements, those that pass `where` (about element `e`, compared with `value`), as a new
        array in their order."""
        array = self.array_json(node)
        extra = value.params if value is not None else ()
        if self.pg:
            condition = f" WHERE {where.format(e='t.e', v=value.sql if value else '')}" if where else ""
            sql = (f"CASE WHEN {array.sql} IS NOT NULL THEN (SELECT COALESCE(jsonb_agg(t.e ORDER BY t.n), '[]'::jsonb)"
                   f" FROM jsonb_array_elements({array.sql}) WITH ORDINALITY AS t(e, n){condition}) END")  # fmt: skip
            return self.doc(sql, array.params * 2 + extra)
        element = EACH_TEXT.format("t")
        condition = f" WHERE {where.format(e=element, v=value.sql if value else '')}" if where else ""
        sql = (f"CASE WHEN {array.sql} IS NOT NULL THEN (SELECT json_group_array(json({element})) "
               f"FROM json_each({array.sql}) AS t{condition}) END")  # fmt: skip
        return self.doc(sql, array.params * 2 + extra)

    def emit_arrayremove(self, node: exp.ArrayRemove) -> Sql:
        value = self.value(node.expression)
        value = self.json(self.scalar(value)) if self.pg else self.jtext(value)
        return self.rebuilt(node.this, "{e} IS DISTINCT FROM {v}" if self.pg else "{e} IS NOT {v}", value)

    def emit_arraydistinct(self, node: exp.ArrayDistinct) -> Sql:
        array = self.array_json(node.this)
        if self.pg:
            sql = (f"CASE WHEN {array.sql} IS NOT NULL THEN (SELECT COALESCE(jsonb_agg(s.e ORDER BY s.n), '[]'::jsonb) "
                   f"FROM (SELECT t.e, MIN(t.n) AS n FROM jsonb_array_elements({array.sql}) WITH ORDINALITY AS t(e, n) "
                   "GROUP BY t.e) AS s) END")  # fmt: skip
        else:
            return self.doc(f"millrace_array_distinct({array.sql})", array.params)
        return self.doc(sql, array.params * 2)

    def fn_array_flatten(self, node: exp.Anonymous) -> Sql:
        array = self.array_json(self.arguments(node, 1)[0])
        if self.pg:
            sql = (f"CASE WHEN {array.sql} IS NOT NULL THEN (SELECT COALESCE(jsonb_agg(b.x ORDER BY a.n, b.m), "
                   f"'[]'::jsonb) FROM jsonb_array_elements({array.sql}) WITH ORDINALITY AS a(e, n) CROSS JOIN LATERAL "
                   "jsonb_array_elements(CASE WHEN jsonb_typeof(a.e) = 'array' THEN a.e ELSE jsonb_build_array(a.e) "
                   "END) WITH ORDINALITY AS b(x, m)) END")  # fmt: skip
        else:
            sql = (f"CASE WHEN {array.sql} IS NOT NULL THEN (SELECT json_group_array(json({EACH_TEXT.format('b')})) "
                   f"FROM json_each({array.sql}) AS a, json_each(CASE WHEN a.type = 'array' THEN a.value ELSE "
                   f"json_array(json({EACH_TEXT.format('a')})) END) AS b) END")  # fmt: skip
        return self.doc(sql, array.params * 2)

    def emit_arraytostring(self, node: exp.ArrayToString) -> Sql:
        """ARRAY_JOIN(array, separator[, null_replacement]): nulls left out unless replaced."""
        array = self.array_json(node.this)
        separator = self.text(self.value(node.expression))
        replacement = node.args.get("null")
        instead = self.text(self.value(replacement)) if replacement is not None else Sql("NULL", NULL)
        if self.pg:
            element = (f"CASE jsonb_typeof(t.e) WHEN 'string' THEN t.e #>> '{{}}' WHEN 'null' THEN {instead.sql} "
                       "ELSE CAST(t.e AS text) END")  # fmt: skip
            sql = (
                f"CASE WHEN {array.sql} IS NOT NULL THEN COALESCE((SELECT string_agg({element}, {separator.sql} "
                f"ORDER BY t.n) FROM jsonb_array_elements({array.sql}) WITH ORDINALITY AS t(e, n)), '') END"
            )
            return Sql(sql, TEXT, array.params + instead.params + separator.params + array.params)
        element = (f"CASE t.type WHEN 'null' THEN {instead.sql} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
                   "ELSE CAST(t.value AS TEXT) END")  # fmt: skip
        sql = (f"CASE WHEN {array.sql} IS NOT NULL THEN COALESCE((SELECT group_concat({element}, {separator.sql}) "
               f"FROM json_each({array.sql}) AS t), '') END")  # fmt: skip
        return Sql(sql, TEXT, array.params + instead.params + separator.params + array.params)

    # Aggregates

    def emit_arrayagg(self, node: exp.ArrayAgg) -> Sql:
        if isinstance(node.this, exp.Distinct):
            raise unsupported(node, "ARRAY_AGG with DISTINCT is")
        if isinstance(node.this, exp.Order):
            return self.ordered_array(node.this)
        value = self.value(node.this)
        if self.pg:
            j = self.json(self.scalar(value))
            return self.aggregated(f"jsonb_agg({j.sql}) FILTER (WHERE {j.sql} IS NOT NULL)", JSON, j.params * 2)
        j = self.jtext(value)
        return self.aggregated(f"json_group_array(json({j.sql})) FILTER (WHERE {j.sql} IS NOT NULL)", DOC, j.params * 2)

    def ordered_array(self, order: exp.Order) -> Sql:
        """ARRAY_AGG(x ORDER BY k [DESC] [NULLS FIRST|LAST], ...): the keys sort as ORDER BY sorts them
        (Rockset's type order first for fields)."""
        if self.over is not None:
            raise unsupported(order, "ARRAY_AGG(... ORDER BY ...) as a window function is")
        value = self.value(order.this)
        if self.pg:
            terms = [t for ordered in order.expressions for t in self.sort_terms(ordered, self.value(ordered.this))]
            j = self.json(self.scalar(value))
            by = ", ".join(t.sql for t in terms)
            sql = f"jsonb_agg({j.sql} ORDER BY {by}) FILTER (WHERE {j.sql} IS NOT NULL)"
            return self.aggregated(sql, JSON, (*j.params, *(p for t in terms for p in t.params), *j.params))
        arguments, params = [], []
        for ordered in order.expressions:
            desc = bool(ordered.args.get("desc"))
            nulls_first = ordered.args.get("nulls_first")
            first = (not desc) if nulls_first is None else bool(nulls_first)  # as sort_terms decides it
            key = self.scalar(self.value(ordered.this))
            for part in [self.type_rank(key), key] if key.kind == JSON else [key]:
                arguments.append(f"{part.sql}, {int(desc)}, {int(first)}")
                params += part.params
        j = self.jtext(value)
        sql = f"millrace_ordered_array(json({j.sql}), {', '.join(arguments)})"
        return self.aggregated(sql, DOC, (*j.params, *params))

    def fn_arbitrary(self, node: exp.Anonymous) -> Sql:
        return self.arbitrary(self.arguments(node, 1)[0])

    def arbitrary(self, node: exp.Expression) -> Sql:
        value = self.scalar(self.value(node))
        if value.kind == NULL:
            return value
        if self.pg:
            values = self.aggregated(f"array_agg({value.sql}) FILTER (WHERE {value.sql} IS NOT NULL)", value.kind,
                                     value.params * 2)  # fmt: skip
            return Sql(f"({values.sql})[1]", value.kind, values.params)
        if value.kind == JSON:
            j = self.jtext(value)
            return self.aggregated(f"MAX({j.sql})", DOC, j.params)
        return self.aggregated(f"MAX({value.sql})", value.kind, value.params)

    def fn_any_value(self, node: exp.Anonymous) -> Sql:
        return self.fn_arbitrary(node)

    def emit_anyvalue(self, node: exp.AnyValue) -> Sql:
        return self.arbitrary(node.this)

    def logical(self, node: exp.Func, pg_function: str, sqlite_function: str) -> Sql:
        value = self.boolean(self.value(node.this))
        return self.aggregated(f"{pg_function if self.pg else sqlite_function}({value.sql})", BOOL, value.params)

    def emit_logicaland(self, node: exp.LogicalAnd) -> Sql:
        return self.logical(node, "BOOL_AND", "MIN")

    def emit_logicalor(self, node: exp.LogicalOr) -> Sql:
        return self.logical(node, "BOOL_OR", "MAX")

    def emit_approxdistinct(self, node: exp.ApproxDistinct) -> Sql:
        """Exact: the documents are at hand, and an exact count is a fine approximation."""
        return self.counted(node.this, distinct=True)

    def fn_approx_percentile(self, node: exp.Anonymous) -> Sql:
        value_node, share_node = self.arguments(node, 2, 3)[:2]
        number, share = self.number(self.value(value_node)), self.number(self.value(share_node))
        if self.pg:
            sql = f"percentile_disc(CAST({share.sql} AS double precision)) WITHIN GROUP (ORDER BY {number.sql})"
            return Sql(sql, NUM, share.params + number.params)
        return Sql(f"millrace_percentile({number.sql}, {share.sql})", NUM, number.params + share.params)
