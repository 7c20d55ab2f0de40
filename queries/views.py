"""The console's query editor: write SQL, run it, see the result as a table and as JSON, download it, find
it again in your history. A plain form POST works without JavaScript; htmx swaps in the result and the
fields of a collection. Who may open these is decided before they run (console.access); every object is
reached through the organisation, and a query through its user too (history is personal)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from collections_app.models import Collection
from console.access import scoped_object_or_404
from ingest.convert import dumps
from queries.errors import QueryError
from queries.models import Query
from queries.services import (
    DEFAULT_TIMEOUT_MS,
    parameter_names,
    query_cancel,
    query_results_all,
    query_results_page,
    query_run,
    query_submit,
)
from queries.translate import PARAMETER_TYPES

PARAMETER_CHOICES = [(t, t) for t in sorted(PARAMETER_TYPES)]
SHOWN_ROWS = 500  # on the page; the downloads have them all
HISTORY_LENGTH = 20


class QueryForm(forms.Form):
    """The SQL, and a type and value for each `:name` parameter it uses (found in the SQL as submitted, so a
    parameter added to the query gets its inputs with the next run)."""

    sql = forms.CharField(
        label="SQL", max_length=100_000, strip=False, widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"})
    )

    def __init__(
        self, *args: Any, names: Sequence[str] = (), given: Sequence[dict[str, Any]] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        before = {p.get("name"): p for p in given}
        self.names = list(names)
        for name in self.names:
            earlier = before.get(name, {})
            self.fields[f"type:{name}"] = forms.ChoiceField(
                label=f"Type of :{name}", choices=PARAMETER_CHOICES, initial=earlier.get("type", "string")
            )
            self.fields[f"value:{name}"] = forms.CharField(
                label=f":{name}", required=False, max_length=10_000, strip=False, initial=earlier.get("value", "")
            )

    def parameter_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [(self[f"type:{name}"], self[f"value:{name}"]) for name in self.names]

    def parameters(self) -> list[dict[str, str]]:
        """Rockset's `[{name, type, value}]` for the parameters the form had inputs for."""
        data = self.cleaned_data
        return [{"name": n, "type": data[f"type:{n}"], "value": data[f"value:{n}"]} for n in self.names]


def _history(request: HttpRequest) -> Any:
    mine = Query.objects.for_organisation(request.organisation).filter(user=request.user, via=Query.Via.CONSOLE)
    return mine.order_by("-submitted_at")[:HISTORY_LENGTH]


def _users_query(request: HttpRequest, query_id: Any) -> Query:
    return scoped_object_or_404(request, Query.objects.filter(user=request.user), query_id=query_id)


def _cell(value: Any) -> str:
    """A value as the table shows it: strings bare, everything else as its exact JSON."""
    if isinstance(value, str):
        return value
    return dumps(value)


def result_view(query: Query) -> dict[str, Any]:
    """What the page shows of a finished query: the first rows as a table (columns in first-seen order)
    and as JSON text with every digit, and where its error is."""
    if query.status != Query.Status.COMPLETED or query.results_expired:
        return {}
    texts = query_results_page(query=query, start=0, count=SHOWN_ROWS)
    documents = [json.loads(t, parse_float=Decimal) for t in texts]
    columns = [c["name"] for c in query.column_fields]
    for document in documents:
        columns += [k for k in document if k not in columns]
    rows = [[_cell(d[c]) if c in d else "" for c in columns] for d in documents]
    return {"columns": columns, "rows": rows, "json": "[\n" + ",\n".join(texts) + "\n]", "shown": len(texts)}


def error_excerpt(query: Query) -> dict[str, Any]:
    """The line of SQL the error points at, and a caret under its column."""
    if not query.error_line:
        return {}
    lines = query.sql.splitlines() or [""]
    line = lines[min(query.error_line, len(lines)) - 1]
    return {"line_text": line, "caret": " " * max((query.error_column or 1) - 1, 0) + "^"}


def _collections(request: HttpRequest) -> Any:
    scoped = Collection.objects.for_organisation(request.organisation).select_related("workspace")
    return scoped.order_by("workspace__name", "name")


def _describe(request: HttpRequest, label: str) -> dict[str, Any]:
    try:
        outcome = query_run(organisation=request.organisation, sql=f"DESCRIBE {label}", timeout_ms=DEFAULT_TIMEOUT_MS)
    except QueryError as error:
        return {"describe_label": label, "describe_error": error.message}
    fields = [{**row, "path": ".".join(row["field"]).replace(".*", "[*]")} for row in outcome.rows.results]
    return {"describe_label": label, "describe_fields": fields}


@login_required
def query_editor(request: HttpRequest) -> HttpResponse:
    """GET: the editor (`?sql=` fills it, `?query=` reopens one from history, `?describe=ws.name` lists a
    collection's fields). POST: run the SQL; htmx gets the result fragment, a plain form the page again."""
    query: Query | None = None
    if request.method == "POST":
        submitted = request.POST.get("sql", "")
        used = parameter_names(submitted)
        names = [n for n in used if f"type:{n}" in request.POST]
        form = QueryForm(request.POST, names=names)
        if form.is_valid() and len(names) < len(used):
            # A `:name` new to the page: ask for its value first (its inputs come with this answer), rather
            # than run a query bound to fail and keep the failure in the history.
            missing = [n for n in used if n not in names]
            form = QueryForm(initial={"sql": submitted}, names=used, given=form.parameters())
            context = {"form": form, "query": None, "history": _history(request), "needs_values": missing}
            return render(request, "queries/result_swap.html" if request.htmx else "queries/editor.html", context)
        if form.is_valid():
            query = query_submit(
                organisation=request.organisation, user=request.user, via=Query.Via.CONSOLE,
                sql=form.cleaned_data["sql"], parameters=form.parameters(), query_id=_run_id(request),
            )  # fmt: skip
            if not request.htmx:
                return redirect(f"{reverse('query_editor')}?query={query.query_id}")
            form = QueryForm(initial={"sql": query.sql}, names=parameter_names(query.sql), given=query.parameters)
    else:
        if request.GET.get("query"):
            query = _users_query(request, request.GET["query"])
        sql = query.sql if query else request.GET.get("sql", "")
        form = QueryForm(initial={"sql": sql}, names=parameter_names(sql), given=query.parameters if query else [])
    context: dict[str, Any] = {"form": form, "query": query, "history": _history(request)}
    if query is not None:
        context.update(result=result_view(query), excerpt=error_excerpt(query))
    if request.htmx and request.method == "POST":
        response = render(request, "queries/result_swap.html", context)
        if query is not None:  # the address bar names the query shown, so a reload or a link shows it again
            response["HX-Push-Url"] = f"{reverse('query_editor')}?query={query.query_id}"
        return response
    if request.GET.get("describe"):
        context.update(_describe(request, request.GET["describe"]))
    context["collections"] = _collections(request)
    return render(request, "queries/editor.html", context)


def _run_id(request: HttpRequest) -> uuid.UUID | None:
    """The id the page gave the run (query-editor.js), which its Cancel button names while it waits."""
    try:
        return uuid.UUID(request.POST.get("run_id", ""))
    except ValueError:
        return None


@login_required
@require_POST
def query_cancel_view(request: HttpRequest, query_id: str) -> HttpResponse:
    """The editor's Cancel: stop the user's running query (its database statement too, as DELETE
    /queries/{id} does). The run's own request then answers with the cancelled query."""
    query = _users_query(request, query_id)
    query_cancel(query=query)
    if request.htmx:
        return HttpResponse(status=204)
    return redirect(f"{reverse('query_editor')}?query={query.query_id}")


@login_required
@require_GET
def query_describe(request: HttpRequest, workspace: str, name: str) -> HttpResponse:
    """htmx: a collection's fields (DESCRIBE) for the panel beside the editor."""
    collection = scoped_object_or_404(request, Collection, workspace__name=workspace, name=name)
    context = _describe(request, f"{collection.workspace.name}.{collection.name}")
    return render(request, "queries/fields.html", context)


@login_required
@require_GET
def query_download(request: HttpRequest, query_id: str, fmt: str) -> HttpResponse:
    """The whole kept result as CSV (columns of every row, values as the table shows them) or JSON lines
    (one exact document per line), streamed page by page."""
    query = _users_query(request, query_id)
    if query.status != Query.Status.COMPLETED or query.results_expired or fmt not in ("csv", "jsonl"):
        raise Http404("This query has no result to download (it failed, or its result has expired).")
    if fmt == "jsonl":
        body: Iterator[str] = (text + "\n" for text in query_results_all(query=query))
        content_type = "application/x-ndjson"
    else:
        body = _csv_lines(query)
        content_type = "text/csv; charset=utf-8"
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="query-{query.query_id}.{fmt}"'
    return response


def _csv_lines(query: Query) -> Iterator[str]:
    """Two passes over the kept rows, one document in memory at a time: the header needs every field of
    every document (`SELECT *` or `o.*` name no columns), in the select list's order first."""
    columns = [c["name"] for c in query.column_fields]
    for text in query_results_all(query=query):
        columns += [k for k in json.loads(text, parse_float=Decimal) if k not in columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: list[str]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(columns)
    for text in query_results_all(query=query):
        document = json.loads(text, parse_float=Decimal)
        yield line([_cell(document[c]) if c in document else "" for c in columns])
