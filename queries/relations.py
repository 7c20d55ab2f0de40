"""What a query reads from: the organisation's collections, derived tables (subqueries, CTEs, UNIONs) and
UNNEST, joined; the scopes their names live in; and subqueries inside expressions (IN, EXISTS, scalar).

Every relation comes down to SQL the translator wrote: a collection is the documents table restricted to
one collection id (resolved in the caller's organisation, bound), a derived table is a translated
statement, UNNEST is `jsonb_array_elements` / `json_each` over a value of the query. A field of a relation
is JSON access into its document (the body, a derived `*`, an array element) or one of its named columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from sqlglot import exp

from queries.dialect import parse
from queries.errors import QueryError
from queries.functions import EACH_TEXT
from queries.sql import (
    ALIAS,
    BOOL,
    DOC,
    DOCUMENTS,
    JSON,
    NULL,
    NUM,
    TEXT,
    TIME,
    Resolver,
    Sql,
    ViewLookup,
    unsupported,  # fmt: skip
    where_of,
)

DEFAULT_WORKSPACE = "commons"
# What a statement is translated for: the result, a FROM, a UNION's side, a value (IN, scalar), EXISTS
TOP, DERIVED, MEMBER, VALUES, EXISTS = "top", "derived", "member", "values", "exists"


@dataclass
class Relation:
    """One FROM item, as the generated SQL reads it."""

    alias: str
    document: str | None = None  # SQL of the JSON document its fields are read from
    doc_id: str | None = None
    event_time: str | None = None
    columns: dict[str, Sql] = field(default_factory=dict)  # named columns (derived tables, UNNEST's names)


@dataclass
class Scope:
    """The relations one SELECT names, and the CTEs it can see; `parent` is the enclosing SELECT of a
    subquery in an expression (whose relations a correlated subquery may name)."""

    names: dict[str, Relation] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)
    ctes: dict[str, tuple[exp.Expression, dict]] = field(default_factory=dict)
    parent: Scope | None = None

    def add(self, relation: Relation, names: set[str], node: exp.Expression) -> None:
        for name in names:
            if name in self.names:
                raise QueryError(f"`{name}` names two relations of the query; give one an alias.", *where_of(node))
            self.names[name] = relation
        self.relations.append(relation)


@dataclass
class Statement:
    """A translated SELECT (or UNION): its SQL, bound values, and what its columns are."""

    sql: str
    params: list[Any]
    columns: list[Any]  # Column, for the runner (TOP)
    refs: list[tuple[str, str]]  # (name, kind) of each output column for an enclosing query; kind "*": 3 columns
    guard_at: tuple[int, int] | None = None  # TOP: Translation.guard_at


class Relations:
    """The FROM half of the Translator (see queries/translate.py)."""

    pg: bool
    resolve: Resolver
    view_sql: ViewLookup | None
    expanding: list[str]  # the views being inlined, outermost first (a view naming itself is a cycle)
    entities: list[str]  # what the query itself names (not its views' insides): collections, aliases, views
    scope: Scope
    collections: list[str]
    aliases: int
    repeatable: bool

    def new_alias(self, prefix: str) -> str:
        self.aliases += 1
        return f"{prefix}{self.aliases}"

    @contextmanager
    def scoped(self, correlated: bool) -> Iterator[Scope]:
        outer = self.scope
        self.scope = Scope(ctes=dict(outer.ctes), parent=outer if correlated else None)
        try:
            yield self.scope
        finally:
            self.scope = outer

    def with_ctes(self, node: exp.Expression) -> None:
        """WITH a AS (...), b AS (...): each name visible to the ones after it and to the statement."""
        with_ = node.args.get("with_") or node.args.get("with")
        if with_ is None:
            return
        if with_.args.get("recursive"):
            raise QueryError("Rockset SQL has no WITH RECURSIVE: a query named in WITH can't refer to itself.",
                             *where_of(with_))  # fmt: skip
        for cte in with_.expressions:
            self.scope.ctes[cte.alias_or_name] = (cte, dict(self.scope.ctes))

    # FROM and JOIN

    def from_clause(self, source: exp.From, joins: list[exp.Join]) -> tuple[str, list[Any]]:
        """FROM ... JOIN ... WHERE <the first collection's restriction>: each collection restricted where it
        belongs (in a LEFT JOIN's ON, where WHERE would drop the unmatched rows). With a RIGHT or FULL JOIN
        no such place keeps the unmatched rows of both sides, so each collection is a restricted subquery."""
        first_node = source.this
        if isinstance(first_node, exp.Subquery) and not first_node.alias and first_node.this.args.get("joins"):
            # FROM (a CROSS JOIN UNNEST(...)): the parentheses group nothing; `a` is read without its joins
            joins = [*first_node.this.args["joins"], *joins]
            first_node = first_node.this
        steps, left = [], first_node.alias_or_name
        for join in joins:
            steps += self.join_steps(join, left)
            left = join.this.alias_or_name
        inline = any(side in ("RIGHT", "FULL") for _, side, _ in steps)
        first, first_params, restriction = self.relation(first_node, inline)
        sql, params = [f"FROM {first}"], list(first_params)
        for node, side, conditions in steps:
            fragment, fragment_params, condition = self.relation(node, inline)
            sql.append(f"{side + ' ' if side else ''}JOIN {fragment} ON {condition.sql if condition else '1 = 1'}")
            params += [*fragment_params, *(condition.params if condition else ())]
            for on in conditions:
                on_condition = self.condition(on)
                sql.append(f"AND ({on_condition.sql})")
                params += on_condition.params
        sql.append(f"WHERE {restriction.sql if restriction else '1 = 1'}")
        params += restriction.params if restriction else ()
        return " ".join(sql), params

    def join_steps(self, join: exp.Join, left: str = "") -> list[tuple[exp.Expression, str, list[exp.Expression]]]:
        """A JOIN as (what is joined, LEFT/RIGHT/FULL or "", its ON conditions). An inner join of a
        parenthesized inner join, `JOIN (b JOIN c ON bc) ON ab`, is the same as joining b, then c on both
        conditions (by then every relation `ab` names is there). `JOIN b USING (x, y)` is `ON a.x = b.x AND
        a.y = b.y`, `a` the relation it follows (`left`)."""
        side, kind = (join.side or "").upper(), (join.kind or "").upper()
        if using := join.args.get("using"):
            right = join.this.alias_or_name
            if join.args.get("on") is not None or not left or not right or not isinstance(join.this, exp.Table):
                raise unsupported(join, "JOIN ... USING here is")
            equal = [exp.column(c.name, table=left).eq(exp.column(c.name, table=right)) for c in using]
            return [(join.this, side, equal)]
        if side not in ("", "LEFT", "RIGHT", "FULL") or kind not in ("", "INNER", "CROSS", "OUTER"):
            raise unsupported(join, f"{side or kind} JOIN is")
        on = join.args.get("on")
        grouped = join.this
        if isinstance(grouped, exp.Subquery) and not grouped.alias and grouped.this.args.get("joins"):
            inner = grouped.this.args["joins"]
            if side or any(j.side for j in inner):
                raise unsupported(join, "An outer join inside parentheses is")
            steps = [(grouped.this, "", [])]
            for nested in inner:
                steps += self.join_steps(nested)
            if on is not None:
                steps[-1][2].append(on)
            return steps
        if on is None and side and not isinstance(grouped, exp.Unnest):
            raise QueryError(f"A {side} JOIN needs an ON condition.", *where_of(join))
        return [(grouped, side, [on] if on is not None else [])]

    def relation(self, node: exp.Expression, inline: bool = False) -> tuple[str, tuple, Sql | None]:
        """One FROM item: its SQL, bound values, and the restriction that keeps it to one collection (or,
        `inline`, a collection as a subquery that restricts itself)."""
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            if node.args.get("catalog") or node.args.get("pivots"):
                raise unsupported(node, f"`{node.sql()}` as a collection is")
            if not node.db and node.name in self.scope.ctes:
                return self.derived(node, *self.scope.ctes[node.name])
            return self.collection(node, inline)
        if isinstance(node, exp.Subquery):
            return self.derived(node, node, dict(self.scope.ctes))
        if isinstance(node, exp.Unnest):
            return self.unnest(node)
        raise unsupported(node, "This FROM item is")

    def collection(self, node: exp.Table, inline: bool = False) -> tuple[str, tuple, Sql | None]:
        """A collection, or an alias of one (the resolver's business), or a view (inlined)."""
        workspace, name = node.db or DEFAULT_WORKSPACE, node.name
        if not self.expanding:
            self.entities.append(f"{workspace}.{name}")
        collection_id = self.resolve(workspace, name)
        if collection_id is None:
            view_sql = self.view_sql(workspace, name) if self.view_sql is not None else None
            if view_sql is not None:
                return self.view(node, workspace, name, view_sql)
            raise QueryError(f"Collection '{workspace}.{name}' not found.", *where_of(node))
        alias = self.new_alias(ALIAS)
        relation = Relation(alias, f"{alias}.body", f"{alias}.doc_id", f"{alias}.event_time")
        self.scope.add(relation, {node.alias_or_name} if node.alias else {name, f"{workspace}.{name}"}, node)
        self.collections.append(f"{workspace}.{name}")
        if inline:
            subquery = f"(SELECT doc_id, body, event_time FROM {DOCUMENTS} WHERE collection_id = %s) AS {alias}"
            return subquery, (collection_id,), None
        return f"{DOCUMENTS} {alias}", (), Sql(f"{alias}.collection_id = %s", BOOL, (collection_id,))

    def view(self, node: exp.Table, workspace: str, name: str, sql: str) -> tuple[str, tuple, Sql | None]:
        """A view is its SELECT as a derived table named like the view. Its SQL was checked when it was
        saved, but what it names may have changed since: an error inside it says which view, and where
        the view is used."""
        path = f"{workspace}.{name}"
        if path in self.expanding:
            chain = " → ".join([*self.expanding[self.expanding.index(path) :], path])
            raise QueryError(f"View `{path}` refers to itself: {chain}.", *where_of(node))
        self.expanding.append(path)
        self.repeatable = False
        try:
            fragment = self.derived(node, parse(sql), {})
        except QueryError as error:
            if error.message.startswith("In view `"):
                raise
            raise QueryError(f"In view `{path}`: {error.message}", *where_of(node), type_=error.type) from None
        finally:
            self.expanding.pop()
        if not node.alias:
            self.scope.names.setdefault(path, self.scope.relations[-1])
        return fragment

    def derived(self, node: exp.Expression, body: exp.Expression, ctes: dict) -> tuple[str, tuple, Sql | None]:
        """A subquery in FROM or a CTE: a statement of its own, whose columns become the relation's."""
        query = body.this if isinstance(body, exp.CTE | exp.Subquery) else body
        with self.scoped(correlated=False) as scope:
            scope.ctes = dict(ctes)
            statement = self.statement(query, DERIVED)
        alias = self.new_alias("s")
        relation = Relation(alias)
        renamed = [c.name for c in (node.args.get("alias") or exp.TableAlias()).args.get("columns") or []]
        position = 0
        for index, (name, kind) in enumerate(statement.refs):
            if kind == "*":  # `*` over a join is one document, its fields merged (the later relation's win)
                document = f"{alias}.c{position}"
                if relation.document is None:
                    relation.doc_id, relation.event_time = f"{alias}.c{position + 1}", f"{alias}.c{position + 2}"
                    relation.document = document
                else:
                    merge = "({} || {})" if self.pg else "json_patch({}, {})"
                    relation.document = merge.format(relation.document, document)
                position += 3
                continue
            name = renamed[index] if index < len(renamed) else name
            relation.columns[name] = self.column_reference(f"{alias}.c{position}", kind, name, node)
            position += 1
        names = {node.alias_or_name} if node.alias_or_name else set()
        self.scope.add(relation, names, node)
        return f"({statement.sql}) AS {alias}", tuple(statement.params), None

    def column_reference(self, sql: str, kind: str, name: str, node: exp.Expression) -> Sql:
        if kind == DOC:  # a JSON value: a document whose fields can be read on (jsonb, or JSON text)
            return replace(self.field([], node, sql), label=name)
        return Sql(sql, kind, label=name)

    def unnest(self, node: exp.Unnest) -> tuple[str, tuple, Sql | None]:
        """UNNEST(array AS x) / UNNEST(array) AS t(x[, ordinality]): one row per element; an unnamed
        element's fields are the relation's fields (`UNNEST(o.items) AS i` ... `i.price`)."""
        if len(node.expressions) != 1:
            raise unsupported(node, "UNNEST of several arrays is")
        array = self.value(node.expressions[0])
        array = self.json(self.scalar(array)) if self.pg else self.jtext(array)
        alias = self.new_alias("u")
        if self.pg:
            guarded = f"CASE WHEN jsonb_typeof({array.sql}) = 'array' THEN {array.sql} END"
            fragment = f"jsonb_array_elements({guarded}) WITH ORDINALITY AS {alias}(value, ordinality)"
            element, ordinality = f"{alias}.value", Sql(f"{alias}.ordinality", NUM)
        else:
            fragment = f"json_each(CASE WHEN json_type({array.sql}) = 'array' THEN {array.sql} END) AS {alias}"
            element, ordinality = EACH_TEXT.format(alias), Sql(f"({alias}.key + 1)", NUM)
        table_alias = node.args.get("alias") or exp.TableAlias()
        columns = [c.name for c in table_alias.args.get("columns") or []]
        relation = Relation(alias)
        if columns:
            relation.columns[columns[0]] = replace(self.field([], node, element), label=columns[0])
        else:
            relation.document = element
        if node.args.get("offset") and len(columns) > 1:
            relation.columns[columns[1]] = replace(ordinality, label=columns[1])
        self.scope.add(relation, {table_alias.name} if table_alias.name else set(), node)
        return fragment, array.params * 2, None

    # Fields

    def resolve_field(self, names: list[str], node: exp.Expression) -> Sql:
        """`alias.a.b`, `workspace.collection.a`, or a bare `a.b` of the one relation that can have it."""
        scope: Scope | None = self.scope
        while scope is not None:
            if len(names) > 2 and f"{names[0]}.{names[1]}" in scope.names:
                return self.relation_field(scope.names[f"{names[0]}.{names[1]}"], names[2:], node)
            if len(names) > 1 and names[0] in scope.names:
                return self.relation_field(scope.names[names[0]], names[1:], node)
            scope = scope.parent
        scope = self.scope
        while scope is not None and not scope.relations:
            scope = scope.parent
        if scope is None:
            raise QueryError(f"Field `{'.'.join(names)}` needs a FROM clause naming its collection.", *where_of(node))
        named = [r for r in scope.relations if names[0] in r.columns]
        documents = [r for r in scope.relations if r.document]
        if len(named) == 1:
            return self.relation_field(named[0], names, node)
        if len(scope.relations) == 1 or (not named and len(documents) == 1):
            return self.relation_field((named or documents or scope.relations)[0], names, node)
        raise QueryError(
            f"Field `{'.'.join(names)}` could be in more than one collection of the query; "
            "start it with the collection's alias.",
            *where_of(node),
        )

    def relation_field(self, relation: Relation, path: list[str], node: exp.Expression) -> Sql:
        if not path:
            return self.field([], node, relation.document) if relation.document else Sql("NULL", NULL)
        if path == ["_id"] and relation.doc_id:
            return Sql(relation.doc_id, TEXT, label="_id")
        if path == ["_event_time"] and relation.event_time:
            return Sql(relation.event_time, TIME, label="_event_time")
        if path[0] in relation.columns:
            column = relation.columns[path[0]]
            if len(path) == 1:
                return column
            return self.field(list(path[1:]), node, column.table) if column.path == () else Sql("NULL", NULL)
        if relation.document:
            return self.field(list(path), node, relation.document)
        return Sql("NULL", NULL, label=path[-1])  # undefined, as a missing field is

    # Subqueries in expressions

    def subquery_values(self, node: exp.Expression) -> Statement:
        query = node.this if isinstance(node, exp.Subquery) else node
        with self.scoped(correlated=True):
            statement = self.statement(query, VALUES)
        if len(statement.refs) != 1:
            raise QueryError("A subquery used as a value must select exactly one column.", *where_of(node))
        return statement

    def emit_subquery(self, node: exp.Subquery) -> Sql:
        """(SELECT ...) as a value: its one column of its one row."""
        statement = self.subquery_values(node)
        return Sql(f"({statement.sql})", statement.refs[0][1], tuple(statement.params))

    def emit_exists(self, node: exp.Exists) -> Sql:
        with self.scoped(correlated=True):
            statement = self.statement(node.this.this if isinstance(node.this, exp.Subquery) else node.this, EXISTS)
        return Sql(f"EXISTS ({statement.sql})", BOOL, tuple(statement.params))

    def in_subquery(self, subject: Sql, query: exp.Expression) -> Sql:
        """x IN (SELECT y ...), typed as `=` is: a field against strings compares as a string."""
        statement = self.subquery_values(query)
        kind = statement.refs[0][1]
        if subject.kind == JSON and kind in (NUM, TEXT):
            subject = self.number(subject) if kind == NUM else self.text(subject)
        elif self.pg and JSON in (subject.kind, kind):
            if kind != JSON:
                raise unsupported(query, "Comparing a field with this subquery's column is")
            subject = self.json(subject)
        return Sql(f"({subject.sql} IN ({statement.sql}))", BOOL, subject.params + tuple(statement.params))
