"""The console's pages for Query Lambdas, Views and Aliases, under /queries/: a lambda's versions side by
side with their diff, its tags (moved and deleted with a confirmation), a run form built from its
parameters, the snippets that call it by tag, and its usage; "Save as lambda" from the editor. Thin views
over queries/lambdas.py and queries/saved.py; every object reached through the organisation."""

from __future__ import annotations

import difflib
import json
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from collections_app.models import Collection, Workspace
from queries import lambdas as ql
from queries import saved
from queries.errors import QueryError
from queries.models import Query, QueryLambda, QueryLambdaTag, QueryLambdaVersion
from queries.services import parameter_names, query_submit
from queries.translate import PARAMETER_TYPES
from queries.views import error_excerpt, result_view


def _author(request: HttpRequest) -> ql.Author:
    return ql.Author(email=request.user.email or request.user.get_username())


def _lambda(request: HttpRequest, workspace: str, name: str) -> QueryLambda:
    try:
        return ql.lambda_get(organisation=request.organisation, workspace=workspace, name=name)
    except QueryError:
        raise Http404(f"There is no Query Lambda {workspace}.{name} in this organisation.") from None


@login_required
def lambda_list(request: HttpRequest) -> HttpResponse:
    """Every lambda, grouped by workspace, with its latest version, tags and usage."""
    rows = ql.lambdas_of(request.organisation).prefetch_related("tags__version", "versions")
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows.order_by("workspace__name", "name"):
        tags = sorted(row.tags.all(), key=lambda t: (t.name != QueryLambdaTag.LATEST, t.name))
        latest = next((t.version for t in tags if t.name == QueryLambdaTag.LATEST), None)
        groups.setdefault(row.workspace.name, []).append(
            {"row": row, "latest": latest, "tags": tags, "versions": len(row.versions.all())}
        )
    return render(request, "queries/lambdas.html", {"groups": groups})


def _side_by_side(old: QueryLambdaVersion | None, new: QueryLambdaVersion) -> list[tuple[str, str]]:
    """The unified diff of two versions' SQL as (kind, line): kind is add, del, at or same, for colour."""
    if old is None:
        return []
    lines = difflib.unified_diff(
        old.sql.splitlines(), new.sql.splitlines(), f"version {old.number}", f"version {new.number}", lineterm=""
    )
    kinds = {"+": "add", "-": "del", "@": "at"}
    return [(kinds.get(line[:1], "same"), line) for line in list(lines)[2:]]


def _run_parameters(request: HttpRequest, version: QueryLambdaVersion) -> list[dict[str, str]]:
    """The run form's inputs: each default parameter, then each `:name` without one."""
    rows = [dict(p) for p in version.default_parameters]
    known = {p["name"] for p in rows}
    rows += [{"name": n, "type": "string", "value": ""} for n in parameter_names(version.sql) if n not in known]
    if request.method == "POST":
        for row in rows:
            row["value"] = request.POST.get(f"value:{row['name']}", row["value"])
            chosen = request.POST.get(f"type:{row['name']}", row["type"])
            row["type"] = chosen if chosen in PARAMETER_TYPES else row["type"]
    return rows


def _snippets(request: HttpRequest, row: QueryLambda, tag: str, parameters: list[dict[str, str]]) -> dict[str, str]:
    base = request.build_absolute_uri("/").rstrip("/")
    path = f"{base}/v1/orgs/self/ws/{row.workspace.name}/lambdas/{row.name}/tags/{tag}"
    body = json.dumps({"parameters": parameters})
    curl = (
        f"curl -s -X POST -H \"Authorization: ApiKey $MILLRACE_API_KEY\" -H 'Content-Type: application/json' \\\n"
        f"  {path} \\\n  -d '{body}'"
    )
    params = ",\n".join(
        f'        QueryParameter(name="{p["name"]}", type="{p["type"]}", value={json.dumps(p["value"])})'
        for p in parameters
    )
    python = (
        "from rockset import RocksetClient\nfrom rockset.models import QueryParameter\n\n"
        'rs = RocksetClient(host="https://api.use1a1.rockset.com", api_key="<your key>")\n'
        f'rs.api_client.configuration.host = "{base}"\n\n'
        "response = rs.QueryLambdas.execute_query_lambda_by_tag(\n"
        f'    workspace="{row.workspace.name}",\n    query_lambda="{row.name}",\n    tag="{tag}",\n'
        f"    parameters=[\n{params}\n    ],\n)\nprint(response.results)"
    )
    return {"curl": curl, "python": python, "tag": tag}


@login_required
def lambda_detail(request: HttpRequest, workspace: str, name: str) -> HttpResponse:
    """GET: the lambda. POST: run a version (`?version=`, else `latest`) with the form's parameters; any
    role may, as running only reads."""
    row = _lambda(request, workspace, name)
    versions = list(row.versions.order_by("-number"))
    tags = sorted(row.tags.select_related("version"), key=lambda t: (t.name != QueryLambdaTag.LATEST, t.name))
    by_version = {v.version: v for v in versions}
    latest = versions[0]
    chosen = by_version.get(request.GET.get("version") or request.POST.get("version") or "", latest)
    older = by_version.get(request.GET.get("against") or "") or next(
        (v for v in versions if v.number < chosen.number), None
    )
    parameters = _run_parameters(request, chosen)
    query: Query | None = None
    if request.method == "POST":
        try:
            merged = ql.execution_parameters(chosen, parameters)
            query = query_submit(organisation=request.organisation, user=request.user, via=Query.Via.CONSOLE,
                                 sql=chosen.sql, parameters=merged)  # fmt: skip
            failed = QueryError(query.error_message) if query.status == Query.Status.ERROR else None
            ql.usage_record(query_lambda=row, executed_by=_author(request).email, error=failed)
        except QueryError as error:
            ql.usage_record(query_lambda=row, executed_by=_author(request).email, error=error)
            messages.error(request, error.message)
        row.refresh_from_db()
    call_tag = next((t.name for t in tags if t.name != QueryLambdaTag.LATEST), QueryLambdaTag.LATEST)
    context = {
        "row": row, "versions": versions, "tags": tags, "chosen": chosen, "older": older,
        "diff": _side_by_side(older, chosen), "parameters": parameters, "types": sorted(PARAMETER_TYPES),
        "snippets": _snippets(request, row, call_tag, parameters), "query": query,
        "result": result_view(query) if query else {}, "excerpt": error_excerpt(query) if query else {},
    }  # fmt: skip
    return render(request, "queries/lambda_detail.html", context)


@login_required
@require_POST
def lambda_tag_set(request: HttpRequest, workspace: str, name: str) -> HttpResponse:
    row = _lambda(request, workspace, name)
    try:
        tag = ql.tag_set(query_lambda=row, tag=request.POST.get("tag_name", "").strip(),
                         version=request.POST.get("version", ""))  # fmt: skip
        messages.success(request, f"Tag {tag.name} now points at version {tag.version.number}.")
    except QueryError as error:
        messages.error(request, error.message)
    return redirect(reverse("lambda_detail", args=[workspace, name]) + "#tags")


@login_required
def lambda_tag_delete(request: HttpRequest, workspace: str, name: str, tag: str) -> HttpResponse:
    """GET asks first (callers by this tag will get NOTFOUND); POST deletes."""
    row = _lambda(request, workspace, name)
    try:
        found = ql.tag_get(query_lambda=row, tag=tag)
    except QueryError:
        raise Http404(f"{row} has no tag {tag}.") from None
    back = reverse("lambda_detail", args=[workspace, name])
    if request.method == "POST":
        try:
            ql.tag_delete(query_lambda=row, tag=tag)
            messages.success(request, f"Tag {tag} is deleted.")
        except QueryError as error:
            messages.error(request, error.message)
        return redirect(back + "#tags")
    return render(request, "confirm.html", {
        "question": f"Delete tag {tag} of {row}?",
        "explanation": f"It points at version {found.version.number}. Code that calls {row} by tag {tag} will "
                       "get a NOTFOUND error until the tag is created again.",
        "button": "Delete tag", "action": request.path, "cancel": back,
    })  # fmt: skip


@login_required
@require_POST
def lambda_save(request: HttpRequest) -> HttpResponse:
    """From the query editor: the SQL and its parameters (as defaults) become a new lambda, or a new version
    of the lambda of that name."""
    workspace = request.POST.get("workspace", "").strip() or Workspace.DEFAULT_NAME
    name = request.POST.get("lambda_name", "").strip()
    sql = request.POST.get("sql", "")
    defaults = [
        {"name": n, "type": request.POST.get(f"type:{n}", "string"), "value": request.POST.get(f"value:{n}", "")}
        for n in parameter_names(sql)
        if f"type:{n}" in request.POST
    ]
    author = _author(request)
    try:
        existing = ql.lambdas_of(request.organisation).filter(workspace__name=workspace, name=name).first()
        if existing is not None:
            version = ql.lambda_update(organisation=request.organisation, query_lambda=existing, sql=sql,
                                       default_parameters=defaults, author=author)  # fmt: skip
        else:
            version = ql.lambda_create(organisation=request.organisation, workspace=workspace, name=name, sql=sql,
                                       default_parameters=defaults, author=author)  # fmt: skip
    except QueryError as error:
        messages.error(request, f"Not saved: {error.message}")
        return _go(request, f"{reverse('query_editor')}?{urlencode({'sql': sql})}")
    messages.success(request, f"Saved as version {version.number} of {version.query_lambda}.")
    return _go(request, reverse("lambda_detail", args=[workspace, name]))


def _go(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect, which htmx (the editor's form posts with it) is told to follow as a page load."""
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@login_required
def saved_views(request: HttpRequest) -> HttpResponse:
    """The organisation's views; POST creates one (members and admins)."""
    if request.method == "POST":
        try:
            view = saved.view_create(
                organisation=request.organisation, workspace=request.POST.get("workspace", "").strip() or "commons",
                name=request.POST.get("name", "").strip(), query=request.POST.get("query", ""),
                description=request.POST.get("description", ""), author=_author(request),
            )  # fmt: skip
            messages.success(request, f"View {view} is saved.")
            return redirect("saved_views")
        except QueryError as error:
            messages.error(request, f"Not saved: {error.message}")
    views = saved.views_of(request.organisation).order_by("workspace__name", "name")
    return render(request, "queries/views.html", {"views": views, "posted": request.POST})


@login_required
def saved_aliases(request: HttpRequest) -> HttpResponse:
    """The organisation's aliases; POST creates one or switches one to another collection."""
    if request.method == "POST":
        target = [request.POST.get("collection", "")]
        try:
            if request.POST.get("switch"):
                workspace, _, name = request.POST["switch"].partition(".")
                alias = saved.alias_get(organisation=request.organisation, workspace=workspace, name=name)
                alias = saved.alias_switch(organisation=request.organisation, alias=alias, collections=target)
                if alias.pending:
                    now = f"{alias.collection.workspace.name}.{alias.collection.name}"
                    messages.success(
                        request, f"Alias {alias} switches to {target[0]} once it is ready; till then: {now}."
                    )
                else:
                    messages.success(request, f"Alias {alias} now reads {target[0]}.")
            else:
                alias = saved.alias_create(
                    organisation=request.organisation, workspace=request.POST.get("workspace", "").strip() or "commons",
                    name=request.POST.get("name", "").strip(), collections=target, author=_author(request),
                )  # fmt: skip
                messages.success(request, f"Alias {alias} is saved.")
            return redirect("saved_aliases")
        except QueryError as error:
            messages.error(request, error.message)
    collections = Collection.objects.for_organisation(request.organisation).select_related("workspace")
    context = {
        "aliases": saved.aliases_of(request.organisation).order_by("workspace__name", "name"),
        "collections": collections.order_by("workspace__name", "name"),
    }
    return render(request, "queries/aliases.html", context)
