"""Walk every URL pattern of the installation as each kind of user, and check who gets what.

The table below says, independently of console.access.RULES, what each URL needs for each method it is
tried with. A URL pattern with no line here fails the test, so nobody adds a page, fragment or endpoint
without deciding who may use it. Acme's objects are in the URLs: its admin, member and read-only users
get through or a 403 by role, an admin of another organisation (and the operator, who is not in Acme)
gets a 404, a visitor is sent to log in (the API answers 401), and only the operator opens /admin/.
Every request runs in a transaction that is rolled back, so each one sees the same world.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client
from django.urls import URLPattern
from django.utils import timezone

from collections_app.models import Collection, Source, Workspace
from console import access
from console.access import url_patterns
from console.models import Heartbeat, Invitation, Membership, Organisation, hash_api_key
from console.services import api_key_create, first_admin_create, organisation_admin_create
from integrations.models import Integration
from queries.lambdas import Author, lambda_create, tag_set
from queries.saved import alias_create, view_create
from queries.services import query_submit
from tests.conftest import PASSWORD, ROLE_ARN

PUBLIC, SIGNED_IN, READ_ONLY, MEMBER, ADMIN, OPERATOR = range(6)
ROLE_RANK = {"read_only": READ_ONLY, "member": MEMBER, "admin": ADMIN}
ACTORS = ["anonymous", "operator", "outsider", "read_only", "member", "admin"]
INVITATION_TOKEN = "walk-invitation-token"
WALK_SQL = 'SELECT COUNT(*) FROM "acme-ws".orders'


@dataclass(frozen=True)
class Case:
    """What one URL needs for each method tried, and how to fill it in with Acme's objects."""

    get: int | None = None
    post: int | None = None
    delete: int | None = None
    put: int | None = None
    kwargs: Callable[[SimpleNamespace, str], dict[str, Any]] = lambda w, actor: {}
    data: Callable[[SimpleNamespace], dict[str, Any]] = lambda w: {}
    scoped: bool = False  # names an Acme object: outsiders get a 404 (whatever their own role)
    same_for_all: str = ""  # what everyone gets, whatever the role (e.g. the first-run page is gone)
    api: bool = False
    methods: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        tried = {"GET": self.get, "POST": self.post, "PUT": self.put, "DELETE": self.delete}
        self.methods.update({m: need for m, need in tried.items() if need is not None})


def page(get: int | None = None, post: int | None = None, **kw: Any) -> Case:
    return Case(get=get, post=post, **kw)


def api(
    get: int | None = None, post: int | None = None, delete: int | None = None, put: int | None = None, **kw: Any
) -> Case:
    return Case(get=get, post=post, delete=delete, put=put, api=True, **kw)


def integration_pk(w: SimpleNamespace, actor: str) -> dict[str, Any]:
    return {"pk": w.integration.pk}


def collection_names(w: SimpleNamespace, actor: str) -> dict[str, Any]:
    return {"workspace": w.workspace.name, "name": w.collection.name}


def table_query(w: SimpleNamespace) -> dict[str, Any]:
    return {"integration": w.integration.pk, "region": "us-east-1", "table": "orders"}


def api_collection(w: SimpleNamespace, actor: str) -> dict[str, Any]:
    return {"workspace": w.workspace.name, "collection": w.collection.name}


def api_source(w: SimpleNamespace, actor: str) -> dict[str, Any]:
    return {**api_collection(w, actor), "source": str(w.source.public_id)}


def api_query(w: SimpleNamespace, actor: str) -> dict[str, Any]:
    return {"query_id": w.queries["admin"].query_id}


def api_workspace_name(w: SimpleNamespace, actor: str) -> dict[str, Any]:
    return {"workspace": w.workspace.name}


def api_lambda(w: SimpleNamespace, actor: str) -> dict[str, Any]:
    return {"workspace": w.workspace.name, "query_lambda": "walk"}


def api_lambda_version(w: SimpleNamespace, actor: str) -> dict[str, Any]:
    return {**api_lambda(w, actor), "version": w.lambda_version.version}


def api_lambda_tag(w: SimpleNamespace, actor: str) -> dict[str, Any]:
    return {**api_lambda(w, actor), "tag": "prod"}


WALK: dict[str, Case] = {
    # Accounts and the organisation
    "first_run": page(get=PUBLIC, post=PUBLIC, same_for_all="404"),  # an account exists: the page is gone
    "healthz": page(get=PUBLIC),
    "favicon": page(get=PUBLIC),
    "readyz": page(get=PUBLIC),
    "metrics": page(get=PUBLIC, same_for_all="403"),  # no MILLRACE_METRICS_TOKEN here: refused, session or not
    "login": page(get=PUBLIC),
    "logout": page(post=PUBLIC, same_for_all="login"),  # everyone ends up on the login page
    "password_reset": page(get=PUBLIC, post=PUBLIC, data=lambda w: {"email": "nobody@acme.test"}),
    "password_reset_done": page(get=PUBLIC),
    "password_reset_confirm": page(get=PUBLIC, kwargs=lambda w, a: {"uidb64": "MQ", "token": "not-a-token"}),
    "password_reset_complete": page(get=PUBLIC),
    "invitation_accept": page(get=PUBLIC, post=PUBLIC, kwargs=lambda w, a: {"token": INVITATION_TOKEN}),
    "organisation_switch": page(post=SIGNED_IN, data=lambda w: {"organisation": w.acme.pk}, scoped=True),
    "dashboard": page(get=READ_ONLY),
    "api_docs": page(get=READ_ONLY),
    "help": page(get=PUBLIC),
    "help_section": page(get=PUBLIC, kwargs=lambda w, a: {"section": "configuration"}),
    "organisation": page(get=READ_ONLY, post=ADMIN),
    "organisation_invite": page(post=ADMIN, data=lambda w: {"email": "new@acme.test", "role": "member"}),
    "organisation_invitation_cancel": page(post=ADMIN, kwargs=lambda w, a: {"pk": w.invitation.pk}, scoped=True),
    "organisation_member_role": page(
        post=ADMIN, kwargs=lambda w, a: {"pk": w.mel_membership.pk}, data=lambda w: {"role": "member"}, scoped=True
    ),
    "organisation_member_remove": page(post=ADMIN, kwargs=lambda w, a: {"pk": w.mel_membership.pk}, scoped=True),
    "api_keys": page(get=READ_ONLY, post=READ_ONLY),  # everyone's own keys; a key can't outdo its user's role
    # The member's own key: she and an admin may revoke it, the read-only member may not.
    "api_key_revoke": page(get=MEMBER, post=MEMBER, kwargs=lambda w, a: {"pk": w.keys["member"][0].pk}, scoped=True),
    # Integrations
    "integration_list": page(get=READ_ONLY),
    "integration_detail": page(get=READ_ONLY, kwargs=integration_pk, scoped=True),
    "integration_policy_download": page(get=READ_ONLY, kwargs=integration_pk, scoped=True),
    "integration_create": page(get=MEMBER),
    "integration_create_step": page(get=MEMBER, post=MEMBER, kwargs=lambda w, a: {"step": "scope"}),
    "integration_edit": page(get=MEMBER, kwargs=integration_pk, scoped=True),
    "integration_edit_step": page(
        get=MEMBER, post=MEMBER, kwargs=lambda w, a: {"pk": w.integration.pk, "step": "scope"}, scoped=True
    ),
    "integration_revalidate": page(post=MEMBER, kwargs=integration_pk, scoped=True),
    "integration_delete": page(get=MEMBER, post=MEMBER, kwargs=integration_pk, scoped=True),
    # Collections, the wizard and its htmx fragments
    "collection_list": page(get=READ_ONLY),
    "collection_detail": page(get=READ_ONLY, kwargs=collection_names, scoped=True),
    "collection_status": page(get=READ_ONLY, kwargs=collection_names, scoped=True),
    "collection_documents": page(get=READ_ONLY, kwargs=collection_names, scoped=True),
    "collection_action": page(  # GET asks first, POST pauses
        get=MEMBER, post=MEMBER, kwargs=lambda w, a: {**collection_names(w, a), "action": "pause"}, scoped=True
    ),
    "collection_edit": page(get=MEMBER, post=MEMBER, kwargs=collection_names, scoped=True),
    "collection_resync": page(get=MEMBER, post=MEMBER, kwargs=collection_names, scoped=True),
    "collection_delete": page(
        get=MEMBER, post=MEMBER, kwargs=collection_names, data=lambda w: {"confirm_name": "orders"}, scoped=True
    ),
    "collection_create": page(get=MEMBER),
    "collection_create_step": page(get=MEMBER, post=MEMBER, kwargs=lambda w, a: {"step": "source"}),
    "collection_table_options": page(
        get=MEMBER, data=lambda w: {"source-integration": w.integration.pk, "source-region": "us-east-1"}, scoped=True
    ),
    "collection_table_preview": page(get=MEMBER, data=table_query, scoped=True),
    "collection_enable_stream": page(post=MEMBER, data=table_query, scoped=True),
    # The query editor: everyone in the organisation runs queries; a query (history) is its user's own
    "query_editor": page(get=READ_ONLY, post=READ_ONLY, data=lambda w: {"sql": "SELECT COUNT(*) FROM orders"}),
    "query_describe": page(get=READ_ONLY, kwargs=collection_names, scoped=True),
    "query_download": page(
        get=READ_ONLY,
        kwargs=lambda w, a: {"query_id": w.queries.get(a, w.queries["admin"]).query_id, "fmt": "csv"},
        scoped=True,
    ),
    # Query Lambdas, Views, Aliases in the console: any role reads and runs; members save, tag, switch
    "lambda_list": page(get=READ_ONLY),
    "lambda_detail": page(
        get=READ_ONLY, post=READ_ONLY, kwargs=lambda w, a: {"workspace": "acme-ws", "name": "walk"}, scoped=True
    ),
    "lambda_save": page(post=MEMBER, data=lambda w: {"sql": WALK_SQL, "lambda_name": "walk", "workspace": "acme-ws"}),
    "lambda_tag_set": page(
        post=MEMBER,
        kwargs=lambda w, a: {"workspace": "acme-ws", "name": "walk"},
        data=lambda w: {"tag_name": "dev", "version": w.lambda_version.version},
        scoped=True,
    ),
    "lambda_tag_delete": page(
        get=MEMBER,
        post=MEMBER,
        kwargs=lambda w, a: {"workspace": "acme-ws", "name": "walk", "tag": "prod"},
        scoped=True,
    ),
    "saved_views": page(
        get=READ_ONLY, post=MEMBER, data=lambda w: {"workspace": "acme-ws", "name": "v3", "query": WALK_SQL}
    ),
    "saved_aliases": page(
        get=READ_ONLY,
        post=MEMBER,
        data=lambda w: {"workspace": "acme-ws", "name": "a3", "collection": "acme-ws.orders"},
    ),
    "query_cancel": page(
        post=READ_ONLY,
        kwargs=lambda w, a: {"query_id": w.queries.get(a, w.queries["admin"]).query_id},
        scoped=True,
    ),
    # Rockset's REST API, each caller with their own key
    "api_openapi": api(get=PUBLIC),
    "api_org": api(get=READ_ONLY),
    "api_workspaces": api(get=READ_ONLY, post=MEMBER),
    "api_workspace": api(
        get=READ_ONLY, delete=MEMBER, kwargs=lambda w, a: {"workspace": w.workspace.name}, scoped=True
    ),
    "api_integrations": api(get=READ_ONLY, post=MEMBER),
    "api_integration": api(
        get=READ_ONLY, delete=MEMBER, kwargs=lambda w, a: {"integration": w.integration.name}, scoped=True
    ),
    "api_collections": api(get=READ_ONLY),
    "api_workspace_collections": api(
        get=READ_ONLY, post=MEMBER, kwargs=lambda w, a: {"workspace": w.workspace.name}, scoped=True
    ),
    "api_collection": api(
        get=READ_ONLY,
        put=MEMBER,
        delete=MEMBER,
        kwargs=api_collection,
        data=lambda w: {"description": "walk"},
        scoped=True,
    ),
    "api_sources": api(get=READ_ONLY, kwargs=api_collection, scoped=True),
    "api_source": api(get=READ_ONLY, kwargs=api_source, scoped=True),
    "api_source_suspend": api(post=MEMBER, kwargs=api_source, scoped=True),
    "api_source_resume": api(post=MEMBER, kwargs=api_source, scoped=True),
    "api_queries": api(get=READ_ONLY, post=READ_ONLY, data=lambda w: {"sql": {"query": "SELECT COUNT(*) FROM orders"}}),
    "api_query": api(get=READ_ONLY, delete=READ_ONLY, kwargs=api_query, scoped=True),
    "api_query_pages": api(get=READ_ONLY, kwargs=api_query, scoped=True),
    "api_query_validations": api(post=READ_ONLY, data=lambda w: {"sql": {"query": "SELECT 1 FROM orders"}}),
    "api_keys_self": api(get=READ_ONLY, post=READ_ONLY),
    "api_keys_of_user": api(get=READ_ONLY, kwargs=lambda w, a: {"user": "self"}),
    "api_key": api(get=READ_ONLY, delete=READ_ONLY, kwargs=lambda w, a: {"user": "self", "name": "walk"}),
    # Query Lambdas, Views, Aliases: any role reads and runs them; members and admins change them
    "api_lambdas_all": api(get=READ_ONLY),
    "api_lambdas": api(
        get=READ_ONLY, post=MEMBER, kwargs=api_workspace_name, data=lambda w: {"name": "x"}, scoped=True
    ),
    "api_lambda": api(get=READ_ONLY, delete=MEMBER, kwargs=api_lambda, scoped=True),
    "api_lambda_versions": api(
        get=READ_ONLY, post=MEMBER, kwargs=api_lambda, data=lambda w: {"sql": {"query": WALK_SQL}}, scoped=True
    ),
    "api_lambda_version": api(get=READ_ONLY, post=READ_ONLY, kwargs=api_lambda_version, scoped=True),
    "api_lambda_version_delete": api(delete=MEMBER, kwargs=api_lambda_version, scoped=True),
    "api_lambda_tags": api(
        get=READ_ONLY,
        post=MEMBER,
        kwargs=api_lambda,
        data=lambda w: {"tag_name": "dev", "version": w.lambda_version.version},
        scoped=True,
    ),
    "api_lambda_tag": api(get=READ_ONLY, post=READ_ONLY, delete=MEMBER, kwargs=api_lambda_tag, scoped=True),
    "api_views_all": api(get=READ_ONLY),
    "api_views": api(
        get=READ_ONLY,
        post=MEMBER,
        kwargs=api_workspace_name,
        data=lambda w: {"name": "v2", "query": WALK_SQL},
        scoped=True,
    ),
    "api_view": api(
        get=READ_ONLY,
        post=MEMBER,
        delete=MEMBER,
        kwargs=lambda w, a: {**api_workspace_name(w, a), "view": "counted"},
        data=lambda w: {"query": WALK_SQL},
        scoped=True,
    ),
    "api_aliases_all": api(get=READ_ONLY),
    "api_aliases": api(
        get=READ_ONLY,
        post=MEMBER,
        kwargs=api_workspace_name,
        data=lambda w: {"name": "a2", "collections": ["acme-ws.orders"]},
        scoped=True,
    ),
    "api_alias": api(
        get=READ_ONLY,
        post=MEMBER,
        delete=MEMBER,
        kwargs=lambda w, a: {**api_workspace_name(w, a), "alias": "current"},
        data=lambda w: {"collections": ["acme-ws.orders"]},
        scoped=True,
    ),
    # Every page of Django's admin site, whatever the model: operators only.
    "admin:*": page(get=OPERATOR),
}


def expected(case: Case, need: int, actor: str) -> str:
    if case.same_for_all:
        return case.same_for_all
    if need == PUBLIC:
        return "ok"
    if actor == "anonymous":
        return "login"
    if need == OPERATOR:
        return "ok" if actor == "operator" else "403"
    if actor in ("operator", "outsider"):  # each an admin of an organisation of their own, not of Acme
        return "404" if case.scoped else "ok"
    if need == SIGNED_IN:
        return "ok"
    return "ok" if ROLE_RANK[actor] >= need else "403"


def outcome(response: Any, case: Case) -> str:
    status = response.status_code
    if status >= 500:
        return f"{status}!"
    if case.api and status in (401, 403, 404):
        body = json.loads(response.content)
        assert {"message", "type"} <= set(body), body  # Rockset's error body, never HTML
        if status == 403:
            assert body["type"] == "FORBIDDEN" and "read-only" in body["message"], body
    if status == 401 or (status == 302 and response["Location"].startswith("/login/")):
        return "login"
    if status in (403, 404):
        return str(status)
    return "ok"


@pytest.fixture
def world(db: None, aws: SimpleNamespace) -> SimpleNamespace:
    """Acme (admin, member, read-only) with one of everything; Globex's admin; the operator elsewhere."""
    operator = first_admin_create(username="olga", email="olga@ops.test", password=PASSWORD, organisation_name="Ops")
    admin = organisation_admin_create(
        username="ada", email="ada@acme.test", password=PASSWORD, organisation_name="Acme"
    )
    outsider = organisation_admin_create(
        username="otto", email="otto@globex.test", password=PASSWORD, organisation_name="Globex"
    )
    acme = Organisation.objects.get(name="Acme")
    User = get_user_model()
    member = User.objects.create_user("mel", "mel@acme.test", PASSWORD)
    read_only = User.objects.create_user("rita", "rita@acme.test", PASSWORD)
    mel_membership = Membership.objects.create(organisation=acme, user=member, role="member")
    Membership.objects.create(organisation=acme, user=read_only, role="read_only")
    users = {"operator": operator, "outsider": outsider, "read_only": read_only, "member": member, "admin": admin}
    keys = {
        actor: api_key_create(
            user=user, organisation=Membership.objects.filter(user=user).first().organisation, name="walk"
        )  # fmt: skip
        for actor, user in users.items()
    }
    integration = Integration.objects.create(
        organisation=acme, name="acme-prod", scope="all", role_arn=ROLE_ARN, status=Integration.Status.VALIDATED
    )
    workspace = Workspace.objects.create(organisation=acme, name="acme-ws")
    collection = Collection.objects.create(workspace=workspace, name="orders", status=Collection.Status.READY)
    source = Source.objects.create(
        collection=collection, integration=integration, table_name="orders", region="us-east-1",
        load_method=Source.LoadMethod.SCAN, rcu=5, key_schema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )  # fmt: skip
    invitation = Invitation.objects.create(
        organisation=acme, email="someone@acme.test", role="member", token_hash=hash_api_key(INVITATION_TOKEN),
        invited_by=admin, expires_at=timezone.now() + timedelta(days=7),
    )  # fmt: skip
    queries = {
        actor: query_submit(organisation=acme, user=users[actor], via="console", sql=WALK_SQL)
        for actor in ("read_only", "member", "admin")
    }  # each one's own: the others' reach theirs; the outsider and the operator try the admin's
    author = Author(email="ada@acme.test")
    lambda_version = lambda_create(organisation=acme, workspace="acme-ws", name="walk", sql=WALK_SQL, author=author)
    tag_set(query_lambda=lambda_version.query_lambda, tag="prod", version=lambda_version.version)
    view_create(organisation=acme, workspace="acme-ws", name="counted", query=WALK_SQL, author=author)
    alias_create(organisation=acme, workspace="acme-ws", name="current", collections=["acme-ws.orders"], author=author)
    Heartbeat.objects.create(name="worker", seen_at=timezone.now())  # beat ticks: /readyz answers 200
    clients = {"anonymous": Client()}
    for actor, user in users.items():
        clients[actor] = Client()
        clients[actor].force_login(user)
    cookies = {actor: copy.deepcopy(client.cookies) for actor, client in clients.items()}
    return SimpleNamespace(
        acme=acme, users=users, keys=keys, clients=clients, cookies=cookies, integration=integration,
        workspace=workspace, collection=collection, source=source, invitation=invitation, mel_membership=mel_membership,
        queries=queries, lambda_version=lambda_version,
    )  # fmt: skip


ADMIN_SAMPLES = {"app_label": "console", "object_id": "1", "id": "1", "url": "not-a-page/"}


def admin_path(route: str, w: SimpleNamespace) -> str:
    """A concrete address for one of the admin site's patterns (routes and the two regular expressions)."""
    samples = {**ADMIN_SAMPLES, "content_type_id": str(ContentType.objects.get_for_model(Organisation).pk)}
    route = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: samples[m.group(1)], route)
    route = re.sub(r"\^?\(\?P<(\w+)>[^)]*\)\$?", lambda m: samples[m.group(1)], route).replace("^", "")
    return "/" + route.replace("$", "")


def case_path(route: str, pattern: URLPattern, case: Case, w: SimpleNamespace, actor: str) -> str:
    values = {k: str(v) for k, v in case.kwargs(w, actor).items()}
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], route)


def request(w: SimpleNamespace, case: Case, actor: str, method: str, path: str) -> Any:
    client = w.clients[actor]
    client.cookies = copy.deepcopy(w.cookies[actor])  # logging out, or in, changed only the rolled-back past
    headers = {}
    if case.api and actor != "anonymous":
        headers["HTTP_AUTHORIZATION"] = f"ApiKey {w.keys[actor][1]}"
        client = Client()  # the API authenticates by key alone
    data = case.data(w)
    with transaction.atomic():
        if method == "GET":
            response = client.get(path, data, **headers)
        elif case.api:
            response = client.generic(method, path, json.dumps(data), content_type="application/json", **headers)
        else:
            response = client.post(path, data, **headers)
        transaction.set_rollback(True)
    return response


def test_every_url_pattern_has_a_line_in_the_walk_and_no_line_is_stale():
    names = {"admin:*" if "admin" in spaces else pattern.name for _, pattern, spaces in url_patterns()}
    missing = sorted(str(n) for n in names - set(WALK))
    assert not missing, f"URL patterns with no line in WALK (say who may use them): {missing}"
    assert not set(WALK) - names, f"lines in WALK for URLs that don't exist: {sorted(set(WALK) - names)}"


def test_each_kind_of_user_gets_what_their_role_allows_on_every_url(world, monkeypatch):
    monkeypatch.setattr("ingest.tasks.start_initial_load.delay", lambda *a: None)
    wrong = []
    for route, pattern, spaces in url_patterns():
        key = "admin:*" if "admin" in spaces else pattern.name
        case = WALK[key]
        for actor in ACTORS:
            path = admin_path(route, world) if key == "admin:*" else case_path(route, pattern, case, world, actor)
            for method, need in case.methods.items():
                response = request(world, case, actor, method, path)
                got = outcome(response, case)
                want = expected(case, need, actor)
                if key == "admin:*" and want == "ok" and got in ("403", "404"):
                    # The operator was let in; the admin itself then refused (an API key can't be added
                    # there, say) or has no such object: that is not the access rule.
                    got = "ok" if b"operators only" not in response.content else got
                if got != want:
                    wrong.append(f"{method} {path} as {actor}: got {got}, expected {want}")
    assert not wrong, "\n".join(wrong)


def test_manage_py_check_names_a_url_without_an_access_rule(monkeypatch):
    monkeypatch.delitem(access.RULES, "collection_status")
    errors = access.every_url_has_a_rule(None)
    assert [e.id for e in errors] == ["millrace.E001"]
    assert "collections/<str:workspace>/<str:name>/status/" in errors[0].msg


def test_a_url_without_a_rule_is_refused_to_everyone(world, monkeypatch):
    monkeypatch.delitem(access.RULES, "dashboard")
    response = world.clients["admin"].get("/")
    assert response.status_code == 403 and "no access rule" in response.content.decode()
