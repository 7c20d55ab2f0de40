"""Query Lambdas: named, parameterised queries in a workspace, saved as immutable versions and called by
version or by tag, so a query can change (and roll back) without a deploy of the code that calls it.

Every write goes through here, for the API and the console alike. A version's SQL is translated when it is
saved, so a lambda that can't run is refused then, not at its first call. `latest` is a tag Millrace keeps
on the newest version; the others are the user's, each one row, so moving one is one update."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from collections_app.forms import NAME_RE, NAME_RULE
from collections_app.models import Workspace
from console.models import Organisation
from queries.errors import QueryError
from queries.models import QueryLambda, QueryLambdaTag, QueryLambdaVersion
from queries.services import parameter_names, query_translate
from queries.translate import PARAMETER_TYPES


@dataclass(frozen=True)
class Author:
    """Who saves or runs a lambda, as its rows and `stats` name them."""

    email: str
    api_key_name: str = ""


def lambdas_of(organisation: Organisation) -> Any:
    return QueryLambda.objects.for_organisation(organisation).select_related("workspace")


def lambda_get(*, organisation: Organisation, workspace: str, name: str) -> QueryLambda:
    found = lambdas_of(organisation).filter(workspace__name=workspace, name=name).first()
    if found is None:
        raise QueryError(f"Query Lambda `{workspace}.{name}` was not found.", type_="NOTFOUND")
    return found


def version_get(*, query_lambda: QueryLambda, version: str) -> QueryLambdaVersion:
    found = query_lambda.versions.filter(version=version).first()
    if found is None:
        raise QueryError(f"Query Lambda `{query_lambda}` has no version `{version}`.", type_="NOTFOUND")
    return found


def tag_get(*, query_lambda: QueryLambda, tag: str) -> QueryLambdaTag:
    found = query_lambda.tags.select_related("version").filter(name=tag).first()
    if found is None:
        raise QueryError(f"Query Lambda `{query_lambda}` has no tag `{tag}`.", type_="NOTFOUND")
    return found


def latest_version(query_lambda: QueryLambda) -> QueryLambdaVersion | None:
    return query_lambda.versions.order_by("-number").first()


def clean_default_parameters(parameters: Iterable[Mapping[str, Any]] | None) -> list[dict[str, str]]:
    """Rockset's `[{name, type, value}]`, values kept as text (as its QueryParameter holds them); each type
    and value checked now, so a default that can't bind is refused when saved."""
    cleaned: list[dict[str, str]] = []
    for index, parameter in enumerate(parameters or []):
        where = f"sql.default_parameters[{index}]"
        name, type_ = str(parameter.get("name") or ""), str(parameter.get("type") or "")
        if not name:
            raise QueryError(f"Field `{where}.name` is required.")
        if type_ not in PARAMETER_TYPES:
            raise QueryError(f"Field `{where}.type` is `{type_}`; use one of {', '.join(sorted(PARAMETER_TYPES))}.")
        if any(p["name"] == name for p in cleaned):
            raise QueryError(f"Default parameter `{name}` is given twice.")
        value = parameter.get("value")
        text = "" if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
        cleaned.append({"name": name, "type": type_, "value": text})
    return cleaned


def _checked(organisation: Organisation, sql: str, defaults: list[dict[str, str]]) -> list[str]:
    """Translate the SQL once with its defaults (and a stand-in for each parameter without one): the
    collections it reads, or the QueryError that says why it can't run."""
    if not sql.strip():
        raise QueryError("Field `sql.query` is required.")
    given = {p["name"] for p in defaults}
    stand_ins = [{"name": n, "type": "string", "value": ""} for n in parameter_names(sql) if n not in given]
    translation = query_translate(organisation=organisation, sql=sql, parameters=[*defaults, *stand_ins])
    return translation.collections


def _version_hash(query_lambda: QueryLambda, number: int, sql: str, defaults: list[dict[str, str]]) -> str:
    """Rockset's versions were 16 hex digits; the lambda's id and the number make each one unique."""
    text = json.dumps([query_lambda.pk, number, sql, defaults, secrets.token_hex(4)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _new_version(
    query_lambda: QueryLambda, *, organisation: Organisation, sql: str, default_parameters: list[dict[str, str]],
    description: str, is_public: bool, author: Author,
) -> QueryLambdaVersion:  # fmt: skip
    collections = _checked(organisation, sql, default_parameters)
    number = (query_lambda.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = QueryLambdaVersion.objects.create(
        query_lambda=query_lambda, version=_version_hash(query_lambda, number, sql, default_parameters),
        number=number, sql=sql, default_parameters=default_parameters, description=description[:1000],
        is_public=is_public, public_access_id=secrets.token_hex(16) if is_public else "", collections=collections,
        created_by=author.email, created_by_apikey_name=author.api_key_name,
    )  # fmt: skip
    QueryLambdaTag.objects.update_or_create(
        query_lambda=query_lambda, name=QueryLambdaTag.LATEST, defaults={"version": version}
    )
    QueryLambda.objects.filter(pk=query_lambda.pk).update(updated_at=timezone.now(), updated_by=author.email)
    return version


def lambda_create(
    *, organisation: Organisation, workspace: str, name: str, sql: str,
    default_parameters: Iterable[Mapping[str, Any]] | None = None, description: str = "", is_public: bool = False,
    author: Author,
) -> QueryLambdaVersion:  # fmt: skip
    if not NAME_RE.match(name or ""):
        raise QueryError(f"Field `name`: {NAME_RULE}")
    space = workspace_for(organisation, workspace)
    defaults = clean_default_parameters(default_parameters)
    try:
        with transaction.atomic():
            query_lambda = QueryLambda.objects.create(workspace=space, name=name, updated_by=author.email)
            return _new_version(
                query_lambda, organisation=organisation, sql=sql, default_parameters=defaults,
                description=description, is_public=is_public, author=author,
            )  # fmt: skip
    except IntegrityError:
        raise QueryError(f"Query Lambda `{workspace}.{name}` already exists.", type_="ALREADYEXISTS") from None


def lambda_update(
    *, organisation: Organisation, query_lambda: QueryLambda, sql: str,
    default_parameters: Iterable[Mapping[str, Any]] | None = None, description: str | None = None,
    is_public: bool | None = None, author: Author,
) -> QueryLambdaVersion:  # fmt: skip
    """A new version (the old ones stay as they were); what the request leaves out is the latest's."""
    previous = latest_version(query_lambda)
    with transaction.atomic():
        QueryLambda.objects.select_for_update().filter(pk=query_lambda.pk).first()  # one new number at a time
        defaults = clean_default_parameters(default_parameters)
        return _new_version(
            query_lambda, organisation=organisation, sql=sql, default_parameters=defaults,
            description=description if description is not None else (previous.description if previous else ""),
            is_public=is_public if is_public is not None else bool(previous and previous.is_public), author=author,
        )  # fmt: skip


def lambda_delete(*, query_lambda: QueryLambda) -> None:
    query_lambda.delete()


def version_delete(*, query_lambda: QueryLambda, version: QueryLambdaVersion) -> None:
    """A version a tag of the user's points at is refused (the tag's callers would break); `latest` moves
    back to the newest version left. The last version goes with its lambda: delete the lambda instead."""
    tags = [t.name for t in version.tags.all() if t.name != QueryLambdaTag.LATEST]
    if tags:
        raise QueryError(
            f"Version `{version.version}` of `{query_lambda}` is tagged {', '.join(f'`{t}`' for t in tags)}; "
            "move or delete the tags first.",
            type_="DEPENDENTRESOURCES",
        )
    with transaction.atomic():
        if query_lambda.versions.count() == 1:
            raise QueryError(
                f"Version `{version.version}` is the only version of `{query_lambda}`; delete the Query Lambda instead."
            )
        version.delete()
        newest = latest_version(query_lambda)
        QueryLambdaTag.objects.update_or_create(
            query_lambda=query_lambda, name=QueryLambdaTag.LATEST, defaults={"version": newest}
        )


def tag_set(*, query_lambda: QueryLambda, tag: str, version: str) -> QueryLambdaTag:
    """Create the tag or move it: one row, so callers by tag see the old version or the new one."""
    if tag == QueryLambdaTag.LATEST:
        raise QueryError("Tag `latest` is kept by Millrace on the newest version; choose another tag name.")
    if not NAME_RE.match(tag or ""):
        raise QueryError(f"Field `tag_name`: {NAME_RULE}")
    target = version_get(query_lambda=query_lambda, version=version)
    row, _ = QueryLambdaTag.objects.update_or_create(query_lambda=query_lambda, name=tag, defaults={"version": target})
    return row


def tag_delete(*, query_lambda: QueryLambda, tag: str) -> QueryLambdaTag:
    if tag == QueryLambdaTag.LATEST:
        raise QueryError("Tag `latest` is kept by Millrace on the newest version and can't be deleted.")
    row = tag_get(query_lambda=query_lambda, tag=tag)
    row.delete()
    return row


def execution_parameters(version: QueryLambdaVersion, given: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The request's parameters over the version's defaults. A parameter given without a type takes its
    default's; one the SQL uses that has neither a value nor a default is a clear error."""
    defaults = {p["name"]: p for p in version.default_parameters}
    merged: dict[str, dict[str, Any]] = {name: dict(p) for name, p in defaults.items()}
    for parameter in given:
        name = str(parameter.get("name") or "")
        type_ = parameter.get("type") or defaults.get(name, {}).get("type") or "string"
        merged[name] = {"name": name, "type": type_, "value": parameter.get("value")}
    missing = [n for n in parameter_names(version.sql) if n not in merged]
    if missing:
        raise QueryError(
            f"Query Lambda `{version.query_lambda}` needs parameter{'s' if len(missing) > 1 else ''} "
            f"{', '.join(f'`{n}`' for n in missing)}: pass {'them' if len(missing) > 1 else 'it'} in `parameters`."
        )
    return list(merged.values())


def usage_record(*, query_lambda: QueryLambda, executed_by: str, error: QueryError | None = None) -> None:
    """One execution: counted, and its failure kept for the lambda's page (one row update)."""
    now = timezone.now()
    changes: dict[str, Any] = {"executions": F("executions") + 1, "last_executed_at": now}
    changes["last_executed_by"] = executed_by
    if error is not None:
        changes.update(last_error_at=now, last_error_message=error.message[:2000])
    QueryLambda.objects.filter(pk=query_lambda.pk).update(**changes)


def workspace_for(organisation: Organisation, name: str) -> Workspace:
    if name == Workspace.DEFAULT_NAME:
        return Workspace.objects.get_or_create(organisation=organisation, name=name)[0]
    found = Workspace.objects.for_organisation(organisation).filter(name=name).first()
    if found is None:
        raise QueryError(f"Workspace `{name}` was not found.", type_="NOTFOUND")
    return found
