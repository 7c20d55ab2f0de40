"""Collection pages: the create wizard with its htmx helpers, the list and the detail page."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling
from formtools.wizard.views import NamedUrlSessionWizardView

from collections_app import capacity, tables
from collections_app import documents as docs
from collections_app.forms import (
    LagAlertForm,
    MethodForm,
    NameForm,
    ReviewForm,
    SourceForm,
    StreamForm,
    TableForm,
    table_error,
)
from collections_app.models import Collection, Source
from collections_app.services import (
    ExportDeleteError,
    collection_create,
    export_delete,
    lag_alert_set,
    source_pause,
    source_resume,
    source_retry,
)
from console.access import scoped_object_or_404
from console.wizards import ConsoleWizardMixin
from ingest import convert, health
from integrations import aws
from integrations.forms import COMMON_REGIONS, REGION_RE, TABLE_RE
from integrations.models import Integration

STEP_TITLES = {
    "source": "Source",
    "table": "Table",
    "method": "Initial load",
    "stream": "Stream",
    "name": "Name",
    "review": "Review",
}


def _integration(request: HttpRequest, pk: Any) -> Integration:
    return scoped_object_or_404(request, Integration, pk=pk, status=Integration.Status.VALIDATED)


@login_required
def table_options(request: HttpRequest) -> HttpResponse:
    """htmx: the <datalist> of tables for the chosen integration and region."""
    context: dict[str, Any] = {"tables": [], "truncated": False}
    integration_id, region = request.GET.get("source-integration"), request.GET.get("source-region", "")
    if integration_id:
        integration = _integration(request, integration_id)
        region = integration.region or region.strip().lower() or aws.default_region()
        if not REGION_RE.match(region):  # shown under the field, like the form's own error
            context["error"] = f"“{region[:40]}” is not an AWS region; they look like us-east-1 or eu-west-2."
            return render(request, "collections_app/table_options.html", context)
        try:
            context["tables"], context["truncated"] = tables.list_tables(integration, region)
        except aws.AwsError as error:
            context["error"] = f"Couldn't list tables in {region}: {error.code}: {error.message}"
        context["region"] = region
    return render(request, "collections_app/table_options.html", context)


class BadParameter(Exception):
    """A query or form parameter no page of ours sends (typed by hand, or tampered with): a 400."""


def _table_in_scope(request: HttpRequest, params: Any) -> tuple[Integration, str, str]:
    """(integration, region, table) named by a request, 404 unless the user's integration covers both the
    table and the region. The names are checked before boto3 sees them: a region such as
    `us-east-1.evil.com` would otherwise become part of the endpoint's host name."""
    integration = _integration(request, params.get("integration"))
    region, table = params.get("region", "").strip().lower(), params.get("table", "").strip()
    if not REGION_RE.match(region):
        raise BadParameter(f"“{region[:40]}” is not an AWS region; they look like us-east-1 or eu-west-2.")
    if not TABLE_RE.match(table):
        raise BadParameter("DynamoDB table names are 3–255 letters, digits, _, - and dots.")
    if integration.region and region != integration.region:
        raise Http404(f"This integration only covers {integration.region}.")
    if not integration.covers_table(table):
        raise Http404("That table is outside the integration's scope.")
    return integration, region, table


def _bad_parameter(error: BadParameter) -> HttpResponse:
    return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")


@login_required
def table_preview(request: HttpRequest) -> HttpResponse:
    """The first items of the table, converted exactly as the collection will store them."""
    try:
        integration, region, table = _table_in_scope(request, request.GET)
    except BadParameter as error:
        return _bad_parameter(error)
    context: dict[str, Any] = {"table": table}
    try:
        items = tables.preview_items(integration, region, table)
    except aws.AwsError as error:
        context["error"] = table_error(error, table, region)
        context["error_code"] = error.code
    else:
        documents = [convert.item_to_document(item) for item in items]
        columns = preview_columns(documents, request.GET.getlist("key"))
        context.update(
            documents=documents,
            columns=columns,
            rows=[[_cell(d.get(c)) for c in columns] for d in documents],
            json_text=convert.dumps(documents, indent=2),
        )
    template = "collections_app/preview.html" if request.htmx else "collections_app/preview_page.html"
    return render(request, template, context)


def preview_columns(documents: list[dict[str, Any]], key_names: list[str]) -> list[str]:
    """The table's key attributes first (partition, then sort: what identifies an item), then the rest by name,
    as the documents table shows them."""
    names = {name for document in documents for name in document}
    keys = [k for k in key_names if k in names]
    return [*keys, *sorted(names - set(keys))]


def preview_url(integration: Integration, region: str, table: tables.TableSummary) -> str:
    """The table step's preview, told the table's key (one `key` each, partition key first) to show it first."""
    hash_first = sorted(table.key_schema, key=lambda k: k["KeyType"] != "HASH")
    params = [("integration", integration.pk), ("region", region), ("table", table.name)]
    params += [("key", k["AttributeName"]) for k in hash_first]
    return f"{reverse('collection_table_preview')}?{urlencode(params)}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else convert.dumps(value)
    return text if len(text) <= 60 else text[:57] + "…"


class CollectionWizard(ConsoleWizardMixin, LoginRequiredMixin, NamedUrlSessionWizardView):
    """Create a collection: source → table → initial load → stream → name → review."""

    template_folder = "collections_app"

    form_list = [
        ("source", SourceForm),
        ("table", TableForm),
        ("method", MethodForm),
        ("stream", StreamForm),
        ("name", NameForm),
        ("review", ReviewForm),
    ]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.organisation = request.organisation  # found, and the role checked, by console.access
        self.described: dict[tuple[Any, ...], tables.TableSummary] = {}  # DescribeTable once per request
        return super().dispatch(request, *args, **kwargs)

    def describe(self, integration: Integration, region: str, table: str) -> tables.TableSummary:
        key = (integration.pk, region, table)
        if key not in self.described:
            self.described[key] = tables.describe_table(integration, region, table)
        return self.described[key]

    def chosen(self) -> tuple[Integration, str, str] | None:
        data = self.get_cleaned_data_for_step("source")
        return (data["integration"], data["region"], data["table_name"]) if data else None

    def summary(self) -> tables.TableSummary | None:
        chosen = self.chosen()
        return self.describe(*chosen) if chosen else None

    def get_form_kwargs(self, step: str | None = None) -> dict[str, Any]:
        if step == "source":
            return {"organisation": self.organisation, "describe": self.describe}
        if step == "method":
            chosen = self.chosen()
            return {"summary": self.summary(), "integration": chosen[0] if chosen else None}
        if step == "stream":
            return {"summary": self.summary()}
        if step == "name":
            return {"organisation": self.organisation}
        return {}

    def get_form_initial(self, step: str) -> dict[str, Any]:
        if step == "method" and (summary := self.summary()):
            chosen = self.chosen()
            has_bucket = bool(chosen and chosen[0].s3_bucket)
            return {"load_method": capacity.recommend(summary, has_bucket).method, "rcu": capacity.default_rcu(summary)}
        if step == "source":
            return {"region": aws.default_region()}
        if step == "name" and (chosen := self.chosen()):
            # The table's name is what people call the collection anyway (dots aren't allowed in a name).
            return {"name": re.sub(r"[^A-Za-z0-9_-]", "-", chosen[2])[:100]}
        return {}

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        later_step = kwargs.get("step") not in (None, "source", self.done_step_name)
        # The table may have vanished, or access changed, since the first step: show that step's error.
        if later_step and self.storage.get_step_data("source") and self.chosen() is None:
            messages.error(request, "The table chosen in the first step can't be read any more; see below.")
            return redirect(self.get_step_url("source"))
        try:
            return super().get(request, *args, **kwargs)
        except aws.AwsError as error:  # the table vanished or access changed since the first step
            return self.aws_failure(error)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().post(request, *args, **kwargs)
        except aws.AwsError as error:
            return self.aws_failure(error)

    def aws_failure(self, error: aws.AwsError) -> HttpResponse:
        chosen = self.chosen()
        table, region = (chosen[2], chosen[1]) if chosen else ("", "")
        messages.error(self.request, table_error(error, table, region))
        return redirect(self.get_step_url("source"))

    def get_context_data(self, form: Any, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(form=form, **kwargs)
        context["step_titles"] = list(STEP_TITLES.items())
        context["regions"] = COMMON_REGIONS
        chosen = self.chosen()
        if chosen and self.steps.current != "source":
            integration, region, table = chosen
            summary = self.summary()
            context.update(integration=integration, region=region, table=summary)
            context["preview_url"] = preview_url(integration, region, summary)
            context.update(self.capacity_context(integration, summary))
        if self.steps.current == "review":
            context["method"] = self.get_cleaned_data_for_step("method")
            context["naming"] = self.get_cleaned_data_for_step("name")
        return context

    def capacity_context(self, integration: Integration, summary: tables.TableSummary) -> dict[str, Any]:
        size, estimated = summary.size_bytes, False
        if self.steps.current in ("method", "review") and not size and summary.item_count:
            try:
                sample = tables.preview_items(integration, summary.region, summary.name)
            except aws.AwsError:
                sample = []
            size, estimated = capacity.estimated_size_bytes(summary, sample)
        low, high = capacity.rcu_bounds(summary)
        sized = tables.TableSummary(**{**summary.__dict__, "size_bytes": size})
        return {
            "size_bytes": size,
            "size_estimated": estimated,
            "recommendation": capacity.recommend(sized, bool(integration.s3_bucket)),
            "rcu_low": low,
            "rcu_high": high,
            "rcu_half": max(1, high // 2),
            "default_rcu": capacity.default_rcu(summary),
            "bytes_per_rcu_second": capacity.BYTES_PER_RCU_SECOND,
            "call_seconds": capacity.CALL_SECONDS,
            "round_trip_seconds": capacity.ROUND_TRIP_SECONDS,
            "worker_slots": capacity.WORKER_SLOTS,
            "full_page_rcu": capacity.FULL_PAGE_RCU,
            "start_seconds": capacity.START_SECONDS,
            "read_units_total": -(-size // capacity.BYTES_PER_RCU_SECOND),
        }

    def done(self, form_list: Any, form_dict: dict[str, Any], **kwargs: Any) -> HttpResponse:
        integration, region, table_name = self.chosen()
        method, naming = form_dict["method"].cleaned_data, form_dict["name"].cleaned_data
        try:
            collection = collection_create(
                organisation=self.organisation,
                user=self.request.user,
                workspace_name=naming["workspace"],
                name=naming["name"],
                description=naming["description"],
                integration=integration,
                table=self.describe(integration, region, table_name),
                load_method=method["load_method"],
                rcu=method["rcu"],
                may_enable_pitr=method["may_enable_pitr"],
                poll_frequency_ms=int(naming["poll_frequency"] * Decimal(1000)),
            )
        except IntegrityError:  # the same name, created a moment ago by someone else
            messages.error(
                self.request, f"Workspace “{naming['workspace']}” already has a collection named “{naming['name']}”."
            )
            return redirect(self.get_step_url("name"))
        messages.success(self.request, f"Collection {collection} is created; its initial load is queued.")
        return redirect("collection_detail", workspace=collection.workspace.name, name=collection.name)


@login_required
@require_POST
def enable_stream(request: HttpRequest) -> HttpResponse:
    """Turn on the table's stream (UpdateTable) for the wizard's stream step."""
    try:
        integration, region, table = _table_in_scope(request, request.POST)
    except BadParameter as error:
        return _bad_parameter(error)
    try:
        tables.enable_stream(integration, region, table)
    except aws.AwsError as error:
        messages.error(
            request,
            f"Millrace couldn't turn the stream on ({error.code}: {error.message}). Turn it on yourself as "
            "described below, or allow dynamodb:UpdateTable in the integration's policy.",
        )
    else:
        messages.success(request, f"The stream of {table} is on, with view type NEW_AND_OLD_IMAGES.")
    return redirect("collection_create_step", step="stream")


def _collection(request: HttpRequest, workspace: str, name: str) -> Collection:
    queryset = Collection.objects.select_related("workspace")
    return scoped_object_or_404(request, queryset, workspace__name=workspace, name=name)


@login_required
def collection_list(request: HttpRequest) -> HttpResponse:
    collections = (
        Collection.objects.for_organisation(request.organisation)
        .select_related("workspace")
        .prefetch_related("sources")
    )
    rows = health.healths(collections)  # one shard query for all the collections, not one each
    return render(request, "collections_app/list.html", {"rows": rows})


@login_required
def collection_detail(request: HttpRequest, workspace: str, name: str) -> HttpResponse:
    collection = _collection(request, workspace, name)
    context = {**_status_context(collection), "starter_query": starter_query(collection)}
    return render(request, "collections_app/detail.html", context)


def starter_query(collection: Collection) -> str:
    """The query the collection page's Query button opens the editor with; names that aren't plain SQL
    identifiers (a dash, say) are double-quoted, as Rockset quotes them."""

    def name(text: str) -> str:
        return text if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text) else '"' + text.replace('"', '""') + '"'

    return f"SELECT *\nFROM {name(collection.workspace.name)}.{name(collection.name)}\nLIMIT 10"


def _status_context(collection: Collection) -> dict[str, Any]:
    source = collection.source
    return {
        "collection": collection,
        "source": source,
        "h": health.health(collection, source),
        "polling": _polling(source),
    }


def _polling(source: Source) -> bool:
    """Paused, or stopped until someone presses Retry: nothing changes by itself, so the page stops asking.
    An error Millrace retries by itself keeps the page asking, so the retry shows when it happens."""
    return not source.suspended_at and (not source.error or bool(source.next_retry_at))


@login_required
def collection_status(request: HttpRequest, workspace: str, name: str) -> HttpResponse:
    """htmx: the live status block; polling stops once nothing will change without the user."""
    collection = _collection(request, workspace, name)
    context = _status_context(collection)
    response = render(request, "collections_app/status.html", context)
    if request.htmx and not context["polling"]:
        response.status_code = HttpResponseStopPolling.status_code
    return response


# Actions that take something away ask first, on a page of their own (no JavaScript needed): GET asks, POST acts.
CONFIRM = {
    "pause": (
        "Pause {c}?",
        "Millrace stops reading the stream and keeps its place. The stream keeps changes for 24 hours: resume "
        "within that, or the collection will need a re-sync.",
        "Pause",
    ),
    "delete-export": (
        "Delete the export's files of {c}?",
        "This deletes the export's data files and manifests from s3://{bucket}/{folder}/ in your AWS account. The "
        "collection keeps its documents; a later re-sync makes a new export.",
        "Delete export files",
    ),
}


@login_required
def collection_action(request: HttpRequest, workspace: str, name: str, action: str) -> HttpResponse:
    collection = _collection(request, workspace, name)
    source = collection.source
    if request.method != "POST":
        if action not in CONFIRM:
            raise Http404("No such action.")
        question, explanation, button = CONFIRM[action]
        fill = {"c": collection, "bucket": source.integration.s3_bucket, "folder": source.export_folder}
        context = {
            "question": question.format(**fill),
            "explanation": explanation.format(**fill),
            "button": button,
            "action": request.path,
            "cancel": reverse("collection_detail", args=[workspace, name]),
        }
        return render(request, "confirm.html", context)
    if action == "pause":
        source_pause(source=source)
        messages.success(request, "Paused. Millrace keeps its place in the stream; resume within 24 hours.")
    elif action == "resume":
        if source_resume(source=source):
            messages.success(request, "Resumed from where it stopped.")
        else:
            messages.warning(
                request,
                "Resumed, but the pause lasted over 24 hours: the stream may have dropped "
                "changes since. If it has, the page says so and the collection needs a re-sync.",
            )
    elif action == "retry":
        source_retry(source=source)
        messages.success(request, "Retrying from the last checkpoint.")
    elif action == "lag-alert":
        form = LagAlertForm(request.POST)
        if form.is_valid():
            lag_alert_set(source=source, **form.cleaned_data)
            messages.success(request, "Lag alert thresholds saved; the next check uses them.")
        else:
            problems = [
                f"{form.fields[name].label}: {error}" for name, errors in form.errors.items() for error in errors
            ]
            messages.error(request, "The lag alert was not changed. " + " ".join(problems))
    elif action == "delete-export":
        try:
            deleted = export_delete(source=source)
        except ExportDeleteError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"Deleted the export's {deleted} files from s3://{source.integration.s3_bucket}.")
    else:
        raise Http404("No such action.")
    return redirect("collection_detail", workspace=workspace, name=name)


DOCUMENTS_PER_PAGE = 25


@login_required
def collection_documents(request: HttpRequest, workspace: str, name: str) -> HttpResponse:
    """The documents as a table (key first, columns from a sample), sorted by key, filtered by a field's
    value or looked up by key; the same selection downloads as JSON lines (`?format=jsonl`)."""
    collection = _collection(request, workspace, name)
    source = collection.source
    descending = request.GET.get("sort") == "desc"
    documents = collection.documents.order_by("-doc_id" if descending else "doc_id")
    lookup = {key: request.GET.get(key, "").strip() for key in source.key_names}
    field, value = request.GET.get("field", "").strip(), request.GET.get("value", "")
    looked_up, error = None, ""
    if all(lookup.values()):
        try:
            looked_up = lookup_id(source, lookup)
        except (ArithmeticError, ValueError):
            error = "A number key needs a number, like 42 or 1.5."
        else:
            documents = documents.filter(doc_id=looked_up)
    if field:
        try:
            documents = docs.where_field_is(documents, field, value)
        except docs.BadFilter as bad:
            error = str(bad)
    if request.GET.get("format") == "jsonl":
        response = StreamingHttpResponse(docs.json_lines(documents), content_type="application/x-ndjson")
        chosen = docs.download_name(collection, field=field, value=value, key=lookup if looked_up else None)
        response["Content-Disposition"] = f'attachment; filename="{chosen}"'
        return response
    page = Paginator(documents, DOCUMENTS_PER_PAGE).get_page(request.GET.get("page"))
    names = docs.columns(collection, source.key_names)
    rows = [
        {"id": d.doc_id, "event_time": d.event_time, "cells": [docs.cell(d.body, n) for n in names], "body": d.body}
        for d in page
    ]
    selection = request.GET.copy()
    selection.pop("page", None)
    context = {
        "collection": collection,
        "source": source,
        "page": page,
        "rows": rows,
        "columns": names,
        "lookup": lookup,
        "looked_up": looked_up,
        "lookup_error": error,
        "field": field,
        "value": value,
        "descending": descending,
        "selection": selection.urlencode(),
        "filtered": bool(field or looked_up),
        # A single document (looked up by key) is shown whole too, exactly as stored.
        "whole": convert.dumps(rows[0]["body"], indent=2) if looked_up and rows else "",
    }
    return render(request, "collections_app/documents.html", context)


def lookup_id(source: Source, values: dict[str, str]) -> str:
    """The `_id` a document with these key values has (numbers canonical, binary as base64 text)."""
    types = {k["AttributeName"]: k.get("AttributeType", "S") for k in source.key_schema}
    return convert.document_id({key: {types[key]: text} for key, text in values.items()}, source.key_names)
