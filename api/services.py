"""The API's writes, each a request body checked for shape and then handed to the console's own forms
and services, so that the API accepts exactly what the wizards accept and says why it refuses."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.db import IntegrityError, transaction
from django.utils.dateparse import parse_duration

from api.auth import Caller
from api.body import field, invalid, only_known, unsupported, where
from api.errors import ApiError, not_found
from collections_app import capacity, tables
from collections_app.forms import NAME_RE, NAME_RULE, MethodForm, NameForm, SourceForm, StreamForm
from collections_app.models import Collection, Source, Workspace
from collections_app.services import (
    collection_create,
    collection_delete,
    collection_update,
    collections_purge_deleted,
)
from console.forms import ApiKeyForm
from console.models import ApiKey
from console.services import ApiKeyNameTaken, api_key_create
from integrations import aws
from integrations.forms import AccessForm, ScopeForm, plaintext_secret
from integrations.models import Integration
from integrations.services import IntegrationInUse, integration_delete, integration_save
from integrations.validation import validate

# Rockset's other integration and source kinds: named so that a request using one is told why it fails.
OTHER_INTEGRATION_KINDS = [
    "azure_blob_storage",
    "azure_event_hubs",
    "azure_service_bus",
    "gcs",
    "kafka",
    "kinesis",
    "mongodb",
    "s3",
    "snowflake",
]
OTHER_SOURCE_KINDS = [
    "azure_blob_storage",
    "azure_event_hubs",
    "azure_service_bus",
    "file_upload",
    "gcs",
    "kafka",
    "kinesis",
    "mongodb",
    "s3",
    "snowflake",
    "system",
    "write_api",
]
ROCKSET_DEFAULT_REGION = "us-west-2"  # the client's documented default for `aws_region`


def raise_form_errors(form: forms.Form, names: dict[str, str], default: str) -> None:
    """Turn a console form's first error into INVALIDINPUT naming the API's field, not the form's."""
    if form.is_valid():
        return
    key, messages = next(iter(form.errors.items()))
    name = names.get(key, default)
    raise invalid(f"Field `{name}`: {' '.join(messages)}")


# Workspaces ------------------------------------------------------------------------------------------


def workspace_create(*, caller: Caller, data: dict[str, Any]) -> Workspace:
    only_known(data, {"name", "description"})
    name = field(data, "name", str, required=True)
    description = field(data, "description", str, max_length=500) or ""
    if not NAME_RE.match(name):
        raise invalid(f"Field `name`: {NAME_RULE}")
    if Workspace.objects.for_organisation(caller.organisation).filter(name=name).exists():
        raise ApiError("ALREADYEXISTS", f"Workspace `{name}` already exists.")
    try:
        with transaction.atomic():
            return Workspace.objects.create(
                organisation=caller.organisation, name=name, description=description, created_by=caller.user
            )
    except IntegrityError as exc:  # created by a concurrent request
        raise ApiError("ALREADYEXISTS", f"Workspace `{name}` already exists.") from exc


def workspace_delete(*, caller: Caller, workspace: Workspace) -> Workspace:
    if workspace.name == Workspace.DEFAULT_NAME:
        raise invalid("Workspace `commons` is every organisation's default and can't be deleted.")
    live = Collection.objects.for_organisation(caller.organisation).filter(workspace=workspace).count()
    if live:
        raise ApiError(
            "DEPENDENTRESOURCES", f"Workspace `{workspace.name}` still has {live} collection(s); delete them first."
        )
    with transaction.atomic():
        collections_purge_deleted(collections=Collection.objects.filter(workspace=workspace))
        workspace.delete()
    return workspace


# Integrations ----------------------------------------------------------------------------------------


def integration_create(*, caller: Caller, data: dict[str, Any]) -> Integration:
    """Checked by the wizard's forms, then validated against AWS as the wizard's last step does; an
    integration whose essential checks fail is refused with AWS's words and what to change."""
    organisation = caller.organisation
    only_known(data, {"name", "description", "dynamodb", "is_write_enabled", *OTHER_INTEGRATION_KINDS})
    for kind in OTHER_INTEGRATION_KINDS:
        if data.get(kind) is not None:
            raise invalid(f"Field `{kind}`: Millrace serves DynamoDB integrations only; use `dynamodb`.")
    if field(data, "is_write_enabled", bool):
        raise invalid("Field `is_write_enabled`: Millrace integrations only read from DynamoDB.")
    name = field(data, "name", str, required=True, max_length=100)
    description = field(data, "description", str, max_length=500) or ""
    dynamodb = field(data, "dynamodb", dict, required=True)
    only_known(dynamodb, {"aws_role", "aws_access_key", "s3_export_bucket_name"}, "dynamodb")
    role = field(dynamodb, "aws_role", dict, prefix="dynamodb")
    keys = field(dynamodb, "aws_access_key", dict, prefix="dynamodb")
    bucket = field(dynamodb, "s3_export_bucket_name", str, prefix="dynamodb", max_length=63) or ""
    if bool(role) == bool(keys):
        raise invalid("Field `dynamodb`: set exactly one of `dynamodb.aws_role` and `dynamodb.aws_access_key`.")
    if role:
        only_known(role, {"aws_role_arn", "aws_external_id"}, "dynamodb.aws_role")
        access = {
            "auth_method": Integration.AuthMethod.ROLE,
            "role_arn": field(role, "aws_role_arn", str, prefix="dynamodb.aws_role", required=True),
        }
        external_id = field(role, "aws_external_id", str, prefix="dynamodb.aws_role")
        if external_id is not None and external_id != organisation.external_id:
            raise invalid(
                "Field `dynamodb.aws_role.aws_external_id`: it must be your organisation's External ID "
                "(`external_id` in GET /v1/orgs/self); the role's trust policy must require that one."
            )
    else:
        only_known(keys, {"aws_access_key_id", "aws_secret_access_key"}, "dynamodb.aws_access_key")
        prefix = "dynamodb.aws_access_key"
        access = {
            "auth_method": Integration.AuthMethod.KEYS,
            "access_key_id": field(keys, "aws_access_key_id", str, prefix=prefix, required=True),
            "secret_access_key": field(keys, "aws_secret_access_key", str, prefix=prefix, required=True),
        }
    if Integration.objects.for_organisation(organisation).filter(name__iexact=name).exists():
        raise ApiError("ALREADYEXISTS", f"Integration `{name}` already exists.")

    scope_form = ScopeForm(
        data={"name": name, "description": description, "scope": Integration.Scope.ALL, "s3_bucket": bucket},
        organisation=organisation,
    )
    raise_form_errors(
        scope_form,
        {"s3_bucket": "dynamodb.s3_export_bucket_name", "s3_prefix": "dynamodb.s3_export_bucket_name"},
        "name",
    )
    access_form = AccessForm(data=access)
    raise_form_errors(
        access_form,
        {
            "role_arn": "dynamodb.aws_role.aws_role_arn",
            "access_key_id": "dynamodb.aws_access_key.aws_access_key_id",
            "secret_access_key": "dynamodb.aws_access_key.aws_secret_access_key",
        },
        "dynamodb",
    )

    draft = Integration(organisation=organisation, created_by=caller.user)
    for name_, value in {**scope_form.cleaned_data, **access_form.cleaned_data}.items():
        if name_ != "secret_access_key":
            setattr(draft, name_, value)
    if draft.auth_method == Integration.AuthMethod.KEYS:
        draft.set_secret_access_key(plaintext_secret(access_form.cleaned_data["secret_access_key"]))
    report = validate(draft)
    failed = [c for c in report if c["essential"] and c["status"] == "failed"]
    if failed:
        check = failed[0]
        raise invalid(
            f"Field `dynamodb`: Millrace checked this access with AWS and it failed at “{check['label']}” "
            f"({check['permission']}): {check['aws_error']}. {check['advice']}"
        )
    try:
        return integration_save(integration=draft, report=report)
    except IntegrityError as exc:
        raise ApiError("ALREADYEXISTS", f"Integration `{name}` already exists.") from exc


def integration_remove(*, integration: Integration) -> Integration:
    try:
        integration_delete(integration=integration)
    except IntegrationInUse as exc:
        raise ApiError("DEPENDENTRESOURCES", str(exc)) from exc
    return integration


# Collections -----------------------------------------------------------------------------------------


def parse_poll_frequency(text: str, name: str) -> Decimal:
    """ISO-8601 duration (PT1S, PT0.25S, PT5M) to seconds; the range is checked by the wizard's form."""
    try:
        duration = parse_duration(text) if text.upper().startswith("P") else None
    except (OverflowError, ValueError) as exc:  # e.g. P9999999999D: more days than a timedelta holds
        raise invalid(f"Field `{name}` must be between PT0.25S and PT5M; got “{text}”.") from exc
    if duration is None:
        raise invalid(f"Field `{name}` must be an ISO-8601 duration such as PT1S, PT0.25S or PT5M; got “{text}”.")
    return Decimal(duration.days * 86400 + duration.seconds) + Decimal(duration.microseconds) / 1_000_000


def collection_create_from(*, caller: Caller, workspace_name: str, data: dict[str, Any]) -> Collection:
    """One DynamoDB source per collection; the table is read through the integration and checked by the
    wizard's steps (source, initial load, stream, name) in the wizard's order."""
    organisation = caller.organisation
    only_known(
        data,
        {
            "name",
            "description",
            "sources",
            "retention_secs",
            "clustering_key",
            "field_mapping_query",
            "event_time_info",
            "storage_compression_type",
            "source_download_soft_limit_bytes",
        },
    )
    unsupported(
        data,
        [
            "retention_secs",
            "clustering_key",
            "field_mapping_query",
            "event_time_info",
            "source_download_soft_limit_bytes",
        ],
    )
    field(data, "storage_compression_type", str, choices=["LZ4", "ZSTD"])  # storage is Millrace's business
    name = field(data, "name", str, required=True)
    description = field(data, "description", str, max_length=500) or ""
    sources = field(data, "sources", list, required=True)
    if len(sources) != 1:
        raise invalid("Field `sources` must hold exactly one DynamoDB source: a Millrace collection mirrors one table.")
    source = sources[0]
    prefix = "sources[0]"
    if not isinstance(source, dict):
        raise invalid(f"Field `{prefix}` must be an object.")
    only_known(
        source, {"integration_name", "dynamodb", "format_params", "ingest_transformation", *OTHER_SOURCE_KINDS}, prefix
    )
    for kind in OTHER_SOURCE_KINDS:
        if source.get(kind) is not None:
            raise invalid(f"Field `{prefix}.{kind}`: Millrace serves DynamoDB sources only; use `dynamodb`.")
    unsupported(source, ["format_params", "ingest_transformation"], prefix)
    integration_name = field(source, "integration_name", str, prefix=prefix, required=True)
    ddb_prefix = f"{prefix}.dynamodb"
    dynamodb = field(source, "dynamodb", dict, prefix=prefix, required=True)
    # status and current_status are what GET returns; a script may send a fetched source back unchanged.
    only_known(
        dynamodb,
        {"table_name", "aws_region", "rcu", "use_scan_api", "settings", "status", "current_status"},
        ddb_prefix,
    )
    table_name = field(dynamodb, "table_name", str, prefix=ddb_prefix, required=True, max_length=255)
    region = field(dynamodb, "aws_region", str, prefix=ddb_prefix, max_length=32)
    rcu = field(dynamodb, "rcu", int, prefix=ddb_prefix)
    use_scan_api = field(dynamodb, "use_scan_api", bool, prefix=ddb_prefix)
    settings_prefix = f"{ddb_prefix}.settings"
    settings = field(dynamodb, "settings", dict, prefix=ddb_prefix) or {}
    only_known(settings, {"dynamodb_stream_poll_frequency"}, settings_prefix)
    frequency_name = where(settings_prefix, "dynamodb_stream_poll_frequency")
    frequency = field(settings, "dynamodb_stream_poll_frequency", str, prefix=settings_prefix)
    poll_seconds = parse_poll_frequency(frequency, frequency_name) if frequency else Decimal(1)

    if (
        workspace_name != Workspace.DEFAULT_NAME
        and not Workspace.objects.for_organisation(organisation).filter(name=workspace_name).exists()
    ):
        raise not_found(f"Workspace `{workspace_name}` does not exist.")
    integration = Integration.objects.for_organisation(organisation).filter(name=integration_name).first()
    if integration is None:
        raise invalid(f"Field `{prefix}.integration_name`: there is no integration named “{integration_name}”.")
    if not integration.is_validated:
        raise invalid(
            f"Field `{prefix}.integration_name`: integration “{integration_name}” has not passed its "
            "access checks; re-validate it in the console first."
        )
    same_name = Collection.objects.filter(
        workspace__organisation=organisation, workspace__name=workspace_name, name=name
    )
    collections_purge_deleted(collections=same_name)  # a deleted collection's name is free again
    if same_name.exists():
        raise ApiError("ALREADYEXISTS", f"Collection `{workspace_name}.{name}` already exists.")

    described: dict[tuple[Any, ...], tables.TableSummary] = {}

    def describe(integration: Integration, region: str, table: str) -> tables.TableSummary:
        key = (integration.pk, region, table)
        if key not in described:
            described[key] = tables.describe_table(integration, region, table)
        return described[key]

    region = region if region is not None else (integration.region or ROCKSET_DEFAULT_REGION)
    source_form = SourceForm(
        data={"integration": integration.pk, "region": region, "table_name": table_name},
        organisation=organisation,
        describe=describe,
    )
    raise_form_errors(
        source_form,
        {
            "integration": f"{prefix}.integration_name",
            "region": f"{ddb_prefix}.aws_region",
            "table_name": f"{ddb_prefix}.table_name",
        },
        f"{ddb_prefix}.table_name",
    )
    region, table_name = source_form.cleaned_data["region"], source_form.cleaned_data["table_name"]
    try:
        summary = describe(integration, region, table_name)
    except aws.AwsError as exc:  # vanished between the two calls
        raise invalid(f"Field `{ddb_prefix}.table_name`: AWS said {exc.code}: {exc.message}") from exc

    if use_scan_api is None:
        method = capacity.recommend(summary, bool(integration.s3_bucket)).method
    else:
        method = Source.LoadMethod.SCAN if use_scan_api else Source.LoadMethod.EXPORT
    if method == Source.LoadMethod.SCAN and rcu is None:
        rcu = capacity.default_rcu(summary)
    method_form = MethodForm(
        data={"load_method": method, "rcu": "" if rcu is None else rcu}, summary=summary, integration=integration
    )
    if not method_form.is_valid() and "may_enable_pitr" in method_form.errors:
        raise invalid(
            f"Field `{ddb_prefix}.use_scan_api`: an export needs point-in-time recovery on table "
            f"{table_name}. Turn it on (DynamoDB console → the table → Backups → Point-in-time recovery), "
            "or set `use_scan_api` to true."
        )
    raise_form_errors(
        method_form,
        {"load_method": f"{ddb_prefix}.use_scan_api", "rcu": f"{ddb_prefix}.rcu"},
        f"{ddb_prefix}.use_scan_api",
    )
    raise_form_errors(StreamForm(data={}, summary=summary), {}, f"{ddb_prefix}.table_name")
    name_form = NameForm(
        data={
            "workspace": workspace_name,
            "name": name,
            "description": description,
            "poll_frequency": str(poll_seconds),
        },
        organisation=organisation,
    )
    if not name_form.is_valid() and "poll_frequency" in name_form.errors:
        raise invalid(
            f"Field `{frequency_name}` must be between PT0.25S and PT5M, in steps of 0.01 s; got “{frequency}”."
        )
    raise_form_errors(name_form, {"name": "name", "description": "description"}, "name")

    cleaned = method_form.cleaned_data
    try:
        return collection_create(
            organisation=organisation,
            user=caller.user,
            workspace_name=workspace_name,
            name=name_form.cleaned_data["name"],
            description=name_form.cleaned_data["description"],
            integration=integration,
            table=summary,
            load_method=cleaned["load_method"],
            rcu=cleaned["rcu"],
            may_enable_pitr=False,
            poll_frequency_ms=int(name_form.cleaned_data["poll_frequency"] * 1000),
        )
    except IntegrityError as exc:  # created by a concurrent request
        raise ApiError("ALREADYEXISTS", f"Collection `{workspace_name}.{name}` already exists.") from exc


def collection_remove(*, collection: Collection) -> Collection:
    return collection_delete(collection=collection)[0]


def collection_update_from(*, collection: Collection, data: dict[str, Any]) -> Collection:
    """Rockset's UpdateCollectionRequest: `description`. Its `field_mapping_query` (ingest transformations)
    is refused rather than ignored: Millrace keeps every document as the table has it."""
    only_known(data, {"description", "field_mapping_query"})
    unsupported(data, ["field_mapping_query"], why=": documents are stored as the table has them")
    description = field(data, "description", str, max_length=500)
    return collection_update(collection=collection, description=description)


# API keys --------------------------------------------------------------------------------------------


def api_key_create_from(*, caller: Caller, data: dict[str, Any]) -> tuple[ApiKey, str]:
    only_known(data, {"name", "role", "created_by", "expiry_time"})
    name = field(data, "name", str, required=True)
    unsupported(data, ["role", "expiry_time"], why=": a Millrace key acts as its user, with no expiry")
    created_by = field(data, "created_by", str)
    if created_by is not None and created_by not in (caller.user.email, caller.user.get_username()):
        raise invalid("Field `created_by`: a key can only be created for yourself.")
    if ApiKey.objects.filter(user=caller.user, name=name.strip()).exists():
        raise ApiError(
            "ALREADYEXISTS", f"You already have an API key named `{name}` (names of revoked keys stay taken)."
        )
    form = ApiKeyForm(data={"name": name}, user=caller.user)
    raise_form_errors(form, {"name": "name"}, "name")
    try:
        return api_key_create(user=caller.user, organisation=caller.organisation, name=form.cleaned_data["name"])
    except ApiKeyNameTaken as exc:  # created by a concurrent request
        raise ApiError("ALREADYEXISTS", f"You already have an API key named `{name}`.") from exc
