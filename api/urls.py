"""Rockset's v1 paths, under /v1/ (the console's urls include this module there)."""

from __future__ import annotations

from django.urls import path

from api import lambdas as ql
from api import queries as q
from api import views as v

WS = "orgs/self/ws/<str:workspace>"
COLLECTION = f"{WS}/collections/<str:collection>"
SOURCE = f"{COLLECTION}/sources/<str:source>"
LAMBDA = f"{WS}/lambdas/<str:query_lambda>"

urlpatterns = [
    path("openapi.json", v.openapi, name="api_openapi"),
    path("orgs/self", v.endpoint(GET=v.org_get), name="api_org"),
    path("orgs/self/ws", v.endpoint(GET=v.workspace_list, POST=v.workspace_create), name="api_workspaces"),
    path(WS, v.endpoint(GET=v.workspace_get, DELETE=v.workspace_delete), name="api_workspace"),
    path(
        "orgs/self/integrations",
        v.endpoint(GET=v.integration_list, POST=v.integration_create),
        name="api_integrations",
    ),
    path(
        "orgs/self/integrations/<str:integration>",
        v.endpoint(GET=v.integration_get, DELETE=v.integration_delete),
        name="api_integration",
    ),
    path("orgs/self/collections", v.endpoint(GET=v.collection_list_all), name="api_collections"),
    path(
        f"{WS}/collections",
        v.endpoint(GET=v.collection_list, POST=v.collection_create),
        name="api_workspace_collections",
    ),
    path(
        COLLECTION,
        v.endpoint(GET=v.collection_get, PUT=v.collection_update, DELETE=v.collection_delete),
        name="api_collection",
    ),
    path(f"{COLLECTION}/sources", v.endpoint(GET=v.source_list), name="api_sources"),
    path(SOURCE, v.endpoint(GET=v.source_get), name="api_source"),
    path(f"{SOURCE}/suspend", v.endpoint(POST=v.source_suspend), name="api_source_suspend"),
    path(f"{SOURCE}/resume", v.endpoint(POST=v.source_resume_view), name="api_source_resume"),
    path("orgs/self/queries", v.endpoint(GET=q.query_list, POST=q.query_create), name="api_queries"),
    path("orgs/self/queries/validations", v.endpoint(POST=q.query_validate), name="api_query_validations"),
    path("orgs/self/queries/<str:query_id>", v.endpoint(GET=q.query_get, DELETE=q.query_delete), name="api_query"),
    path("orgs/self/queries/<str:query_id>/pages", v.endpoint(GET=q.query_pages), name="api_query_pages"),
    path("orgs/self/lambdas", v.endpoint(GET=ql.lambda_list_all), name="api_lambdas_all"),
    path(f"{WS}/lambdas", v.endpoint(GET=ql.lambda_list, POST=ql.lambda_create), name="api_lambdas"),
    path(LAMBDA, v.endpoint(GET=ql.lambda_get, DELETE=ql.lambda_delete), name="api_lambda"),
    path(f"{LAMBDA}/versions", v.endpoint(GET=ql.version_list, POST=ql.lambda_update), name="api_lambda_versions"),
    path(
        f"{LAMBDA}/versions/<str:version>",
        v.endpoint(GET=ql.version_get, POST=ql.execute_version),
        name="api_lambda_version",
    ),
    path(f"{LAMBDA}/version/<str:version>", v.endpoint(DELETE=ql.version_delete), name="api_lambda_version_delete"),
    path(f"{LAMBDA}/tags", v.endpoint(GET=ql.tag_list, POST=ql.tag_create), name="api_lambda_tags"),
    path(
        f"{LAMBDA}/tags/<str:tag>",
        v.endpoint(GET=ql.tag_get, POST=ql.execute_tag, DELETE=ql.tag_delete),
        name="api_lambda_tag",
    ),
    path("orgs/self/views", v.endpoint(GET=ql.view_list_all), name="api_views_all"),
    path(f"{WS}/views", v.endpoint(GET=ql.view_list, POST=ql.view_create), name="api_views"),
    path(
        f"{WS}/views/<str:view>",
        v.endpoint(GET=ql.view_get, POST=ql.view_update, DELETE=ql.view_delete),
        name="api_view",
    ),
    path("orgs/self/aliases", v.endpoint(GET=ql.alias_list_all), name="api_aliases_all"),
    path(f"{WS}/aliases", v.endpoint(GET=ql.alias_list, POST=ql.alias_create), name="api_aliases"),
    path(
        f"{WS}/aliases/<str:alias>",
        v.endpoint(GET=ql.alias_get, POST=ql.alias_update, DELETE=ql.alias_delete),
        name="api_alias",
    ),
    path(
        "orgs/self/users/self/apikeys",
        v.endpoint(GET=v.api_key_list, POST=v.api_key_create),
        name="api_keys_self",
    ),
    path("orgs/self/users/<str:user>/apikeys", v.endpoint(GET=v.api_key_list), name="api_keys_of_user"),
    path(
        "orgs/self/users/<str:user>/apikeys/<str:name>",
        v.endpoint(GET=v.api_key_get, DELETE=v.api_key_delete),
        name="api_key",
    ),
]
