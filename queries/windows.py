"""Window functions: ROW_NUMBER, RANK, DENSE_RANK, PERCENT_RANK, CUME_DIST, FIRST_VALUE, LAST_VALUE,
NTH_VALUE, LAG, LEAD, and every aggregate OVER (PARTITION BY ... ORDER BY ... [frame]), the same on both
databases (SQLite has had window functions since 3.25).

An aggregate emits its call through `aggregated()`, which appends the OVER clause while a window is being
emitted: MIN over a field is two aggregates (its numbers, else its strings), and each gets the clause.
"""

from __future__ import annotations

from sqlglot import exp

from queries.errors import QueryError
from queries.sql import DOC, JSON, NUM, Sql, unsupported, where_of

RANKINGS = {"RowNumber": "ROW_NUMBER", "Rank": "RANK", "DenseRank": "DENSE_RANK", "PercentRank": "PERCENT_RANK",
            "CumeDist": "CUME_DIST"}  # fmt: skip
FRAME_BOUNDS = {"UNBOUNDED", "CURRENT ROW"}


class Windows:
    """The window half of the expressions (see queries/expressions.py)."""

    pg: bool
    over: Sql | None
    windows: dict[str, exp.Window]

    def aggregated(self, call: str, kind: str, params: tuple) -> Sql:
        """An aggregate's call, with the OVER clause of the window it is the function of, if any."""
        if self.over is None:
            return Sql(call, kind, params)
        return Sql(f"{call} OVER ({self.over.sql})", kind, params + self.over.params)

    def emit_window(self, node: exp.Window) -> Sql:
        if node.args.get("first"):
            raise unsupported(node, "FIRST/LAST in a window is")
        if self.over is not None:
            raise QueryError("A window function can't contain another.", *where_of(node))
        definition = self.window_definition(node)
        parts, params = [], []
        partition = [self.scalar(self.value(e)) for e in definition.args.get("partition_by") or []]
        if partition:
            parts.append("PARTITION BY " + ", ".join(p.sql for p in partition))
            params += [x for p in partition for x in p.params]
        if (order := definition.args.get("order")) is not None:
            terms = [t for ordered in order.expressions for t in self.sort_terms(ordered, self.value(ordered.this))]
            parts.append("ORDER BY " + ", ".join(t.sql for t in terms))
            params += [x for t in terms for x in t.params]
        if (spec := definition.args.get("spec")) is not None:
            parts.append(self.frame(spec))
        function = node.this
        if isinstance(function, exp.ApproxDistinct) or isinstance(function.this, exp.Distinct):
            raise unsupported(node, "DISTINCT in a window function is")
        name = RANKINGS.get(type(function).__name__)
        if name is not None:
            kind_sql = f"{name}() OVER ({' '.join(parts)})"
            return Sql(kind_sql, NUM, tuple(params))
        self.over = Sql(" ".join(parts), NUM, tuple(params))
        try:
            if isinstance(function, exp.FirstValue | exp.LastValue | exp.NthValue | exp.Lag | exp.Lead):
                return self.navigation(function)
            emitted = self.value(function)
        finally:
            self.over = None
        if "OVER (" not in emitted.sql:
            raise unsupported(function, f"{function.sql()[:40]} OVER (...) is")
        return emitted

    def window_definition(self, node: exp.Window) -> exp.Window:
        """`OVER w` is the SELECT's `WINDOW w AS (...)`; `OVER (...)` is its own definition."""
        name = node.args.get("alias")
        if name is None:
            return node
        if any(node.args.get(k) for k in ("partition_by", "order", "spec")):
            raise unsupported(node, "A named window with more clauses after its name is")
        if name.name not in self.windows:
            raise QueryError(f"No window named `{name.name}`: define it with WINDOW {name.name} AS (...) after "
                             "WHERE, GROUP BY and HAVING.", *where_of(name))  # fmt: skip
        return self.windows[name.name]

    def frame(self, spec: exp.WindowSpec) -> str:
        """ROWS/RANGE BETWEEN ... AND ...: bounds are keywords or whole numbers, written out checked."""
        kind = (spec.args.get("kind") or "ROWS").upper()
        if kind not in ("ROWS", "RANGE"):
            raise unsupported(spec, f"A {kind} frame is")
        bounds = []
        for end in ("start", "end"):
            value, side = spec.args.get(end), (spec.args.get(f"{end}_side") or "").upper()
            if value is None:
                continue
            text = value if isinstance(value, str) else value.sql() if isinstance(value, exp.Literal) else None
            if text is None or not (text.upper() in FRAME_BOUNDS or text.isdigit()):
                raise unsupported(spec, "A frame bound other than UNBOUNDED, CURRENT ROW or a number is")
            bounds.append(f"{text.upper()} {side}".strip())
        return f"{kind} BETWEEN {bounds[0]} AND {bounds[1]}" if len(bounds) == 2 else f"{kind} {bounds[0]}"

    def navigation(self, function: exp.Func) -> Sql:
        """FIRST_VALUE, LAST_VALUE, NTH_VALUE(x, n), LAG/LEAD(x[, offset[, default]]) over a JSON value
        carry it as JSON (jsonb, or JSON text on SQLite) so arrays and objects come back whole."""
        value = self.value(function.this)
        if value.kind in (JSON, DOC):
            value = self.json(self.scalar(value)) if self.pg else self.jtext(value)
        name = {"FirstValue": "FIRST_VALUE", "LastValue": "LAST_VALUE", "NthValue": "NTH_VALUE", "Lag": "LAG",
                "Lead": "LEAD"}[type(function).__name__]  # fmt: skip
        arguments, params = [value.sql], list(value.params)
        for key in ("offset", "default"):
            if (extra := function.args.get(key)) is None:
                continue
            if key == "offset":
                if not (isinstance(extra, exp.Literal) and extra.this.isdigit()):
                    raise QueryError(f"{name}'s position must be a whole number.", *where_of(function))
                arguments.append(str(int(extra.this)))
            else:
                default = self.value(extra)
                if value.kind in (JSON, DOC):
                    default = self.json(self.scalar(default)) if self.pg else self.jtext(default)
                arguments.append(default.sql)
                params += default.params
        kind = value.kind if value.kind != JSON or self.pg else DOC
        return self.aggregated(f"{name}({', '.join(arguments)})", kind, tuple(params))
