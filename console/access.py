"""Who may do what, for every URL of the installation, in one table checked before any view runs.

Each named URL pattern has a `Rule`: the least a caller needs to read it (GET, HEAD, OPTIONS) and to change
anything through it (every other method). `AccessMiddleware` looks the rule up by the resolved URL's name
and refuses the request before the view is called, so a view can't forget to check: a URL without a rule
is refused for everyone (and `manage.py check` names it), and tests/console/test_access.py walks the
URLconf asking each kind of user for each pattern.

The console signs people in with the session; the API (`rule.api`) with `Authorization: ApiKey`, as the
key's user in the key's organisation, so a read-only member's key can read and not write. Objects are then
reached only through the organisation found here (`scoped_object_or_404`), so another organisation's
objects are a 404, never a 403 that would confirm they exist.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import ResolverMatch

from api.auth import authenticate
from api.errors import ApiError, error_response
from console.models import Membership
from console.services import request_membership

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ADMIN_NAMESPACE = "admin"


class Need(enum.IntEnum):
    """What a caller needs, from nothing to an operator; the three roles are ranked in between."""

    PUBLIC = 0
    SIGNED_IN = 1  # any account, in no particular organisation
    READ_ONLY = 2  # any role in the organisation
    MEMBER = 3
    ADMIN = 4
    OPERATOR = 5  # the installation's operators: /admin/


ROLE_NEED = {Membership.Role.READ_ONLY: Need.READ_ONLY, Membership.Role.MEMBER: Need.MEMBER,
             Membership.Role.ADMIN: Need.ADMIN}  # fmt: skip


@dataclass(frozen=True)
class Rule:
    read: Need
    write: Need
    api: bool = False  # authenticated by API key, refused in Rockset's error body

    def need(self, method: str) -> Need:
        return self.read if method in SAFE_METHODS else self.write


def page(read: Need, write: Need | None = None) -> Rule:
    return Rule(read, read if write is None else write)


def api(read: Need, write: Need | None = None) -> Rule:
    return Rule(read, read if write is None else write, api=True)


P, S, R, M, A = Need.PUBLIC, Need.SIGNED_IN, Need.READ_ONLY, Need.MEMBER, Need.ADMIN

RULES: dict[str, Rule] = {
    # Accounts and the organisation. Everyone manages their own API keys: a key can do no more than its
    # user's role allows. Revoking someone else's key is for admins (checked on the key, in the view).
    "first_run": page(P),
    "healthz": page(P),
    "favicon": page(P),
    "readyz": page(P),  # probes: says which dependency is down, nothing more
    "metrics": page(P),  # a bearer token of its own (MILLRACE_METRICS_TOKEN), never the session: see the view
    "login": page(P),
    "logout": page(P),
    "password_reset": page(P),  # answers the same whether the address has an account or not
    "password_reset_done": page(P),
    "password_reset_confirm": page(P),  # the link's token is the credential
    "password_reset_complete": page(P),
    "invitation_accept": page(P),  # the link's token is the credential; it may create the account
    "organisation_switch": page(S),
    "dashboard": page(R),
    "api_docs": page(R),
    "help": page(P),  # the README, which ships with the code anyway
    "help_section": page(P),
    "organisation": page(R, A),
    "organisation_invite": page(A),
    "organisation_invitation_cancel": page(A),
    "organisation_member_role": page(A),
    "organisation_member_remove": page(A),
    "api_keys": page(R),
    "api_key_revoke": page(R),
    # Integrations: everyone sees them; members and admins create, change and delete them.
    "integration_list": page(R),
    "integration_detail": page(R),
    "integration_policy_download": page(R),
    "integration_create": page(M),
    "integration_create_step": page(M),
    "integration_edit": page(M),
    "integration_edit_step": page(M),
    "integration_revalidate": page(M),
    "integration_delete": page(M),
    # Collections: the wizard and its htmx fragments are for those who may create one.
    "collection_list": page(R),
    "collection_detail": page(R),
    "collection_status": page(R),
    "collection_documents": page(R),
    "collection_create": page(M),
    "collection_create_step": page(M),
    "collection_table_options": page(M),
    "collection_table_preview": page(M),
    "collection_enable_stream": page(M),
    "collection_action": page(M),  # GET asks before a pause or deleting the export's files; POST acts
    "collection_edit": page(M),
    "collection_resync": page(M),
    "collection_delete": page(M),
    # The query editor: queries only read, so everyone in the organisation may run them (POST).
    "query_editor": page(R, R),
    "query_describe": page(R),
    "query_download": page(R),
    # Query Lambdas, Views, Aliases: any role reads and runs lambdas (POST on a lambda's page runs it);
    # members and admins save, tag, create and switch.
    "lambda_list": page(R),
    "lambda_detail": page(R, R),
    "lambda_save": page(M),
    "lambda_tag_set": page(M),
    "lambda_tag_delete": page(M),
    "saved_views": page(R, M),
    "saved_aliases": page(R, M),
    "query_cancel": page(R, R),  # a user's own query (checked on the query, in the view)
    # Rockset's REST API.
    "api_openapi": api(P),
    "api_org": api(R),
    "api_workspaces": api(R, M),
    "api_workspace": api(R, M),
    "api_integrations": api(R, M),
    "api_integration": api(R, M),
    "api_collections": api(R),
    "api_workspace_collections": api(R, M),
    "api_collection": api(R, M),
    "api_sources": api(R),
    "api_source": api(R),
    "api_source_suspend": api(M),
    "api_source_resume": api(M),
    # Queries only read the organisation's documents: a read-only member's key may run them.
    "api_queries": api(R, R),
    "api_query_validations": api(R, R),
    "api_query": api(R, R),  # DELETE cancels a query, which only ever read
    "api_query_pages": api(R),
    # Query Lambdas, Views, Aliases: members and admins save and change them; any role reads and runs them
    # (running a lambda only reads). Deleting a tag shares its URL with running by tag: checked in its view.
    "api_lambdas_all": api(R),
    "api_lambdas": api(R, M),
    "api_lambda": api(R, M),
    "api_lambda_versions": api(R, M),
    "api_lambda_version": api(R, R),  # POST runs the version
    "api_lambda_version_delete": api(M),
    "api_lambda_tags": api(R, M),
    "api_lambda_tag": api(R, R),  # POST runs the tagged version; DELETE needs a member (checked in the view)
    "api_views_all": api(R),
    "api_views": api(R, M),
    "api_view": api(R, M),
    "api_aliases_all": api(R),
    "api_aliases": api(R, M),
    "api_alias": api(R, M),
    "api_keys_self": api(R),  # a user's own keys, like the console's page
    "api_keys_of_user": api(R),
    "api_key": api(R),
}
OPERATORS_ONLY = page(Need.OPERATOR)


def rule_for(match: ResolverMatch) -> Rule | None:
    """Every page of Django's admin site is the operators'; every other URL has its own line above."""
    if ADMIN_NAMESPACE in match.namespaces:
        return OPERATORS_ONLY
    return RULES.get(match.url_name or "")


def caller_role_allows(role: str, need: Need) -> bool:
    return ROLE_NEED[role] >= need


class AccessMiddleware:
    """Apply the URL's rule before its view runs; see the module's docstring."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        match = request.resolver_match
        rule = rule_for(match) if match is not None else None
        if rule is None:
            log.error("No access rule for URL %r (%s): refused", getattr(match, "url_name", None), request.path)
            raise PermissionDenied("This address has no access rule, so nobody may use it.")
        need = rule.need(request.method or "GET")
        if rule.api:
            return self.check_api(request, need)
        if need is Need.PUBLIC:
            return None
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if need is Need.OPERATOR:
            if not (user.is_active and user.is_superuser):
                raise PermissionDenied("The admin site is for the installation's operators only.")
            return None
        if need is Need.SIGNED_IN:
            return None
        membership = request_membership(request)  # 404 for someone in no organisation
        request.organisation = membership.organisation
        request.membership = membership
        if not caller_role_allows(membership.role, need):
            raise PermissionDenied(refusal(membership, need))
        return None

    def check_api(self, request: HttpRequest, need: Need) -> HttpResponse | None:
        if need is Need.PUBLIC:
            return None
        try:
            caller = authenticate(request)
        except ApiError as error:
            return error_response(error.type, error.message, error.status)
        request.caller = caller
        request.organisation = caller.organisation
        if not caller_role_allows(caller.role, need):
            return error_response("FORBIDDEN", refusal(caller.membership, need, "This API key's user"), 403)
        return None


def refusal(membership: Membership, need: Need, who: str = "You") -> str:
    """What a refused person reads: their role, and who can do it instead."""
    role = membership.get_role_display().lower()
    if need is Need.ADMIN:
        return f"{who} can't do this: it takes an admin of {membership.organisation.name}, and the role is {role}."
    return (
        f"{who} can't change anything in {membership.organisation.name}: the role there is {role}. "
        "Ask an admin of the organisation for the member role."
    )


def scoped_object_or_404(request: HttpRequest, queryset: models.QuerySet | type[models.Model], **lookup: Any) -> Any:
    """The one getter for an organisation's object in a view: through the model's scoped manager and the
    organisation `AccessMiddleware` found for this request, so another organisation's object is a 404."""
    if isinstance(queryset, type):
        queryset = queryset.objects.all()
    try:
        return get_object_or_404(queryset.for_organisation(request.organisation), **lookup)
    except (ValueError, TypeError, ValidationError):  # `?integration=abc`: no such object, not a 500
        raise Http404("There is no such object in your organisation.") from None


def url_patterns(
    resolver: URLResolver | None = None, prefix: str = "", namespaces: tuple[str, ...] = ()
) -> Iterator[tuple[str, URLPattern, tuple[str, ...]]]:
    """Every pattern of the URLconf with its full route and namespaces (the walking test uses this too)."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            spaces = namespaces + ((entry.namespace,) if entry.namespace else ())
            yield from url_patterns(entry, route, spaces)
        else:
            yield route, entry, namespaces


@register()
def every_url_has_a_rule(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """`manage.py check` (and so `make lint`) fails on a URL that nobody thought about."""
    errors: list[CheckMessage] = []
    for route, pattern, namespaces in url_patterns():
        if ADMIN_NAMESPACE in namespaces:
            continue
        if pattern.name not in RULES:
            errors.append(
                Error(
                    f"URL {route!r} (name {pattern.name!r}) has no access rule.",
                    hint="Name the pattern and add its Rule to console.access.RULES.",
                    id="millrace.E001",
                )
            )
    return errors
