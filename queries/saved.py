"""Views and Aliases: names in a workspace that a query reads like a collection's.

A view is a SELECT inlined where it is named (queries/relations.py), so it can't go stale; it is translated
when saved, its `entities` kept, and a change that would make views refer to themselves is refused, as is
deleting a view another view or a Query Lambda reads. An alias names one collection; switching it is one
row update, and a query resolves it once, so every answer comes whole from one collection or the other."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from sqlglot import exp

from collections_app.forms import NAME_RE, NAME_RULE
from collections_app.models import Collection
from console.models import Organisation
from queries.dialect import parse
from queries.errors import QueryError
from queries.lambdas import Author, lambdas_of, workspace_for
from queries.models import Alias, QueryLambdaTag, View
from queries.services import query_translate


def views_of(organisation: Organisation) -> Any:
    return View.objects.for_organisation(organisation).select_related("workspace")


def aliases_of(organisation: Organisation) -> Any:
    return Alias.objects.for_organisation(organisation).select_related(
        "workspace", "collection__workspace", "pending__workspace"
    )


def view_get(*, organisation: Organisation, workspace: str, name: str) -> View:
    found = views_of(organisation).filter(workspace__name=workspace, name=name).first()
    if found is None:
        raise QueryError(f"View `{workspace}.{name}` was not found.", type_="NOTFOUND")
    return found


def alias_get(*, organisation: Organisation, workspace: str, name: str) -> Alias:
    found = aliases_of(organisation).filter(workspace__name=workspace, name=name).first()
    if found is None:
        raise QueryError(f"Alias `{workspace}.{name}` was not found.", type_="NOTFOUND")
    return found


def _name_free(organisation: Organisation, workspace: str, name: str) -> None:
    """Collections, views and aliases share a workspace's names: one name, one meaning in a query."""
    if not NAME_RE.match(name or ""):
        raise QueryError(f"Field `name`: {NAME_RULE}")
    taken = (
        ("collection", Collection.objects.for_organisation(organisation)),
        ("view", View.objects.for_organisation(organisation)),
        ("alias", Alias.objects.for_organisation(organisation)),
    )
    for what, rows in taken:
        if rows.filter(workspace__name=workspace, name=name).exists():
            article = "An" if what == "alias" else "A"
            raise QueryError(f"{article} {what} named `{workspace}.{name}` already exists.", type_="ALREADYEXISTS")


def _checked_view(organisation: Organisation, path: str, sql: str) -> list[str]:
    """The view's SQL translated as a query would read it (which also refuses a cycle through other
    views); its own name may not appear in it. Returns what it names."""
    if not sql.strip():
        raise QueryError("Field `query` is required.")
    tree = parse(sql)
    if any(True for _ in tree.find_all(exp.Placeholder)):
        raise QueryError("A view can't take parameters; use a Query Lambda for a parameterised query.")
    if path in _entities_of(sql):
        raise QueryError(f"View `{path}` refers to itself.")
    return query_translate(organisation=organisation, sql=sql).entities


def _refuse_cycle(organisation: Organisation, path: str, entities: list[str]) -> None:
    """After a change, walk the views it names: reaching `path` again is a cycle, refused with its chain."""
    views = {f"{v.workspace.name}.{v.name}": v.entities for v in views_of(organisation)}
    stack = [(entity, [path, entity]) for entity in entities]
    seen: set[str] = set()
    while stack:
        name, chain = stack.pop()
        if name == path:
            raise QueryError(f"View `{path}` would refer to itself: {' → '.join(chain)}.")
        if name in seen or name not in views:
            continue
        seen.add(name)
        stack += [(entity, [*chain, entity]) for entity in views[name]]


def view_create(
    *, organisation: Organisation, workspace: str, name: str, query: str, description: str = "", author: Author
) -> View:
    space = workspace_for(organisation, workspace)
    _name_free(organisation, workspace, name)
    entities = _checked_view(organisation, f"{workspace}.{name}", query)
    try:
        with transaction.atomic():
            return View.objects.create(
                workspace=space, name=name, query=query, description=description[:1000], entities=entities,
                created_by=author.email, created_by_apikey_name=author.api_key_name,
            )  # fmt: skip
    except IntegrityError:
        raise QueryError(f"A view named `{workspace}.{name}` already exists.", type_="ALREADYEXISTS") from None


def view_update(*, organisation: Organisation, view: View, query: str, description: str | None = None) -> View:
    """Re-validated as when created; a change that would close a cycle through other views is refused."""
    path = str(view)
    entities = _checked_view(organisation, path, query)
    _refuse_cycle(organisation, path, entities)
    view.query, view.entities, view.modified_at = query, entities, timezone.now()
    if description is not None:
        view.description = description[:1000]
    view.save(update_fields=["query", "entities", "modified_at", "description"])
    return view


def dependents(organisation: Organisation, path: str) -> list[str]:
    """The views and Query Lambdas (any tagged or latest version) that read `path`, by name."""
    names = [f"view `{v}`" for v in views_of(organisation) if path in v.entities]
    tags = QueryLambdaTag.objects.filter(query_lambda__in=lambdas_of(organisation)).select_related(
        "version", "query_lambda__workspace"
    )
    for tag in tags.order_by("query_lambda__name"):
        name = f"Query Lambda `{tag.query_lambda}`"
        if name not in names and path in _entities_of(tag.version.sql):
            names.append(name)
    return names


def _entities_of(sql: str) -> list[str]:
    """What a saved SQL names, read from its text (a lambda's `collections` are the collections under it)."""
    try:
        tree = parse(sql)
    except QueryError:
        return []
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return [f"{t.db or 'commons'}.{t.name}" for t in tree.find_all(exp.Table) if t.db or t.name not in ctes]


def _delete_unless_read(organisation: Organisation, row: View | Alias, what: str) -> None:
    """Delete a view or alias, unless a view or a tagged lambda version reads it (named in the error)."""
    users = dependents(organisation, str(row))
    if users:
        raise QueryError(
            f"{what} `{row}` can't be deleted: {', '.join(users)} read{'s' if len(users) == 1 else ''} it.",
            type_="DEPENDENTRESOURCES",
        )
    row.delete()


def view_delete(*, organisation: Organisation, view: View) -> View:
    _delete_unless_read(organisation, view, "View")
    return view


def _collection(organisation: Organisation, collections: Any) -> Collection:
    if not isinstance(collections, list) or len(collections) != 1 or not isinstance(collections[0], str):
        raise QueryError("Field `collections` must list exactly one collection, as `workspace.name`.")
    workspace, _, name = collections[0].rpartition(".")
    workspace = workspace or "commons"
    found = (
        Collection.objects.for_organisation(organisation)
        .select_related("workspace")
        .filter(workspace__name=workspace, name=name)
        .first()
    )
    if found is None:
        raise QueryError(f"Collection `{workspace}.{name}` was not found.", type_="NOTFOUND")
    return found


def alias_create(
    *, organisation: Organisation, workspace: str, name: str, collections: Any, description: str = "",
    author: Author,
) -> Alias:  # fmt: skip
    space = workspace_for(organisation, workspace)
    _name_free(organisation, workspace, name)
    target = _collection(organisation, collections)
    try:
        with transaction.atomic():
            return Alias.objects.create(
                workspace=space, name=name, collection=target, description=description[:1000],
                created_by=author.email, created_by_apikey_name=author.api_key_name,
            )  # fmt: skip
    except IntegrityError:
        raise QueryError(f"An alias named `{workspace}.{name}` already exists.", type_="ALREADYEXISTS") from None


def alias_switch(
    *, organisation: Organisation, alias: Alias, collections: Any, description: str | None = None
) -> Alias:
    """Point the alias at another collection: one UPDATE of one row, committed at once. A collection still
    loading (a new one made to replace the old, say) is switched to by the tick once it is READY, so the
    alias's readers never see it half loaded; until then they read the one it names now."""
    target = _collection(organisation, collections)
    changes: dict[str, Any] = {"collection": target, "pending": None, "modified_at": timezone.now()}
    if target.status != Collection.Status.READY and target.pk != alias.collection_id:
        changes = {"pending": target}
    if description is not None:
        changes["description"] = description[:1000]
    with transaction.atomic():
        Alias.objects.filter(pk=alias.pk).update(**changes)
    alias.refresh_from_db()
    return alias


def switch_ready_aliases() -> int:
    """Switch every alias whose pending collection has become READY (the supervisor's tick calls this)."""
    switched = 0
    ready = Alias.objects.filter(pending__status=Collection.Status.READY).values_list("pk", "pending_id")
    for pk, target in ready:
        switched += Alias.objects.filter(pk=pk, pending_id=target).update(
            collection_id=target, pending=None, modified_at=timezone.now()
        )
    return switched


def alias_delete(*, organisation: Organisation, alias: Alias) -> Alias:
    _delete_unless_read(organisation, alias, "Alias")
    return alias
