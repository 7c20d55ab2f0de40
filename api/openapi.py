"""The OpenAPI 3 document of what Millrace serves: Rockset's paths and shapes, the DynamoDB subset."""

from __future__ import annotations

from typing import Any

STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def data_of(schema: dict[str, Any]) -> dict[str, Any]:
    return obj({"data": schema})


SCHEMAS: dict[str, Any] = {
    "ErrorModel": obj({
        "message": STR,
        "type": {"type": "string", "enum": ["INVALIDINPUT", "AUTHEXCEPTION", "NOTFOUND", "ALREADYEXISTS",
                                            "DEPENDENTRESOURCES", "FORBIDDEN", "METHODNOTALLOWED", "INTERNALERROR",
                                            "QUERY_ERROR", "QUERY_TIMEOUT", "RESOURCEEXCEEDED"]},
        "trace_id": STR,
        "error_id": STR,
        "line": {"type": "integer", "nullable": True},
        "column": {"type": "integer", "nullable": True},
    }),
    "Organization": obj({"id": STR, "display_name": STR, "created_at": STR, "external_id": STR}),
    "Workspace": obj({"name": STR, "description": STR, "created_at": STR, "created_by": STR,
                      "collection_count": INT}),
    "CreateWorkspaceRequest": obj({"name": {**STR, "pattern": "^[A-Za-z0-9_-]{1,100}$"},
                                   "description": {**STR, "maxLength": 500}}, ["name"]),
    "AwsRole": obj({"aws_role_arn": STR, "aws_external_id": {
        **STR, "description": "Your organisation's External ID (GET /v1/orgs/self); optional on create."}},
        ["aws_role_arn"]),
    "AwsAccessKey": obj({"aws_access_key_id": STR, "aws_secret_access_key": {
        **STR, "description": "Write-only: responses carry an empty string."}},
        ["aws_access_key_id", "aws_secret_access_key"]),
    "DynamodbIntegration": obj({"aws_role": ref("AwsRole"), "aws_access_key": ref("AwsAccessKey"),
                                "s3_export_bucket_name": STR}),
    "CreateIntegrationRequest": obj({"name": {**STR, "pattern": "^[A-Za-z0-9_-]{1,100}$"},
                                     "description": {**STR, "maxLength": 500},
                                     "dynamodb": ref("DynamodbIntegration")}, ["name", "dynamodb"]),
    "Integration": obj({"name": STR, "description": STR, "created_at": STR, "created_by": STR, "owner_email": STR,
                        "dynamodb": ref("DynamodbIntegration"),
                        "collections": {"type": "array", "items": ref("Collection")}}, ["name", "created_by"]),
    "SourceDynamoDbSettings": obj({"dynamodb_stream_poll_frequency": {
        **STR, "description": "ISO-8601 duration from PT0.25S to PT5M; default PT1S."}}),
    "StatusDynamoDbV2": obj({
        "state": {"type": "string", "enum": ["INITIALIZING", "SCANNING", "EXPORTING_TO_S3", "DOWNLOADING_FROM_S3",
                                             "PROCESSING_STREAM"]},
        "initial_dump_completion_percentage": {"type": "number"},
        "stream_last_processed_at": STR,
        "stalled": {**STR, "description": "Millrace: why no progress is being made (null when moving)."},
        "stalled_since": STR,
        "stream_lag_ms": {**INT, "description": "Millrace: how far behind the table, from what was really read."},
        "lag_alert": {**STR, "description": "Millrace: why the lag alert is raised (null when clear)."},
        "lag_alert_since": STR,
        "replay_records_applied": {**INT, "description": "Millrace: while replaying the changes made during the "
                                   "load, the records applied so far (null otherwise)."},
        "replay_records_remaining": {**INT, "description": "Millrace: the records still to replay, estimated "
                                     "from the table's pace of changes over the time replayed so far."},
        "replay_eta_seconds": {**INT, "description": "Millrace: seconds until the replay has caught up, at its "
                               "pace so far (null while it isn't gaining on the table)."},
    }),
    "SourceDynamoDb": obj({
        "table_name": STR,
        "aws_region": {**STR, "description": "Default: the integration's region, else us-west-2 (as Rockset)."},
        "rcu": {**INT, "description": "Read capacity the Table Scan may use; default half the table's."},
        "use_scan_api": {**BOOL, "description": "true: Table Scan; false: Export to S3; default: recommended."},
        "settings": ref("SourceDynamoDbSettings"),
        "current_status": {**ref("StatusDynamoDbV2"), "readOnly": True},
        "status": {"type": "object", "readOnly": True},
    }, ["table_name"]),
    "Source": obj({
        "id": STR,
        "integration_name": STR,
        "dynamodb": ref("SourceDynamoDb"),
        "status": obj({"state": {"type": "string", "enum": ["INITIALIZING", "PROCESSING", "ERROR", "SUSPENDED"]},
                       "message": STR, "last_processed_at": STR, "total_processed_items": INT}),
        "suspended_at": STR,
    }),
    "CollectionStats": obj({"doc_count": INT, "total_size": INT, "last_updated_ms": INT,
                            "fill_progress": {"type": "number"}}),
    "Collection": obj({
        "name": STR, "workspace": STR, "description": STR, "created_at": STR, "created_by": STR,
        "status": {"type": "string", "enum": ["CREATED", "READY", "PAUSED", "DELETED"]},
        "sources": {"type": "array", "items": ref("Source")},
        "stats": ref("CollectionStats"),
    }),
    "CreateCollectionRequest": obj({
        "name": {**STR, "pattern": "^[A-Za-z0-9_-]{1,100}$"},
        "description": {**STR, "maxLength": 500},
        "sources": {"type": "array", "minItems": 1, "maxItems": 1,
                    "items": obj({"integration_name": STR, "dynamodb": ref("SourceDynamoDb")},
                                 ["integration_name", "dynamodb"])},
    }, ["name", "sources"]),
    "ApiKey": obj({"name": STR, "key": {**STR, "description": "The whole key only in the create response."},
                   "created_at": STR, "created_by": STR, "last_access_time": STR,
                   "state": {"type": "string", "enum": ["ACTIVE", "SUSPENDED"]}}, ["name", "key"]),
    "QueryParameter": obj({"name": STR, "type": {"type": "string", "enum": ["string", "int", "float", "bool",
                                                                             "date", "datetime", "timestamp"]},
                           "value": STR}, ["name", "type", "value"]),
    "QueryRequest": obj({
        "sql": obj({"query": {**STR, "description": "Rockset SQL: one SELECT over your collections."},
                    "parameters": {"type": "array", "items": ref("QueryParameter")},
                    "default_row_limit": {**INT, "description": "The LIMIT when the query has none."}}, ["query"]),
        "timeout_ms": {**INT, "description": "Default 30,000; at most 300,000."},
        "async": {"type": "boolean", "description": "Run on a worker; the answer has the query_id at once."},
        "async_options": obj({"timeout_ms": INT, "client_timeout_ms": INT, "max_initial_results": INT}),
        "max_initial_results": {**INT, "description": "Answer with this many results and keep the rest for "
                                                      "`/queries/{id}/pages` (for MILLRACE_QUERY_RESULTS_SECONDS)."},
    }, ["sql"]),
    "PaginationInfo": obj({"start_cursor": STR, "next_cursor": {**STR, "nullable": True},
                           "current_page_doc_count": INT}),
    "QueryInfo": obj({
        "query_id": STR, "status": {"type": "string", "enum": ["QUEUED", "RUNNING", "COMPLETED", "ERROR", "CANCELLED"]},
        "executed_by": STR, "submitted_at": STR, "expires_at": STR, "sql": STR,
        "stats": obj({"elapsed_time_ms": INT, "result_set_document_count": INT}),
        "pagination": obj({"start_cursor": STR}), "query_errors": {"type": "array", "items": {"type": "object"}},
    }),
    "QueryPaginationResponse": obj({"results": {"type": "array", "items": {"type": "object"}},
                                    "results_total_doc_count": INT, "pagination": ref("PaginationInfo")}),
    "QueryResponse": obj({
        "query_id": STR, "status": {"type": "string", "enum": ["QUEUED", "RUNNING", "COMPLETED"]},
        "pagination": ref("PaginationInfo"),
        "collections": {"type": "array", "items": STR},
        "column_fields": {"type": "array", "items": obj({"name": STR, "type": STR})},
        "results": {"type": "array", "items": {"type": "object"}},
        "results_total_doc_count": INT,
        "stats": obj({"elapsed_time_ms": INT, "throttled_time_micros": INT}),
        "query_errors": {"type": "array", "items": {"type": "object"}},
        "warnings": {"type": "array", "items": STR},
    }),
    "ValidateQueryResponse": obj({"collections": {"type": "array", "items": STR},
                                  "parameters": {"type": "array", "items": STR}}),
    "QueryLambdaSql": obj({"query": STR, "default_parameters": {"type": "array", "items": ref("QueryParameter")}},
                          ["query"]),
    "QueryLambdaStats": obj({"last_executed": STR, "last_executed_by": STR, "last_execution_error": STR,
                             "last_execution_error_message": STR,
                             "executions": {**INT, "description": "Millrace: how many times the lambda ran."}}),
    "QueryLambdaVersion": obj({
        "workspace": STR, "name": STR,
        "version": {**STR, "description": "16 hex digits; a version never changes once saved."},
        "description": STR, "sql": ref("QueryLambdaSql"), "collections": {"type": "array", "items": STR},
        "state": {"type": "string", "enum": ["ACTIVE", "INVALID_SQL"]}, "created_at": STR, "created_by": STR,
        "created_by_apikey_name": STR, "public_access_id": STR, "stats": ref("QueryLambdaStats"),
    }),
    "QueryLambda": obj({"workspace": STR, "name": STR, "collections": {"type": "array", "items": STR},
                        "last_updated": STR, "last_updated_by": STR, "latest_version": ref("QueryLambdaVersion"),
                        "version_count": INT}),
    "QueryLambdaTag": obj({"tag_name": STR, "version": ref("QueryLambdaVersion")}),
    "CreateQueryLambdaRequest": obj({"name": {**STR, "pattern": "^[A-Za-z0-9_-]{1,100}$"},
                                     "sql": ref("QueryLambdaSql"), "description": STR, "is_public": BOOL},
                                    ["name", "sql"]),
    "UpdateQueryLambdaRequest": obj({"sql": ref("QueryLambdaSql"), "description": STR, "is_public": BOOL},
                                    ["sql"]),
    "CreateQueryLambdaTagRequest": obj({"tag_name": STR, "version": STR}, ["tag_name", "version"]),
    "ExecuteQueryLambdaRequest": obj({
        "parameters": {"type": "array", "items": ref("QueryParameter"),
                       "description": "Over the version's default_parameters; `type` defaults to the default's."},
        "default_row_limit": INT, "max_initial_results": INT, "paginate": BOOL,
        "initial_paginate_response_doc_count": INT, "async": BOOL,
        "async_options": obj({"timeout_ms": INT, "client_timeout_ms": INT, "max_initial_results": INT}),
        "timeout_ms": INT,
    }),
    "View": obj({"workspace": STR, "name": STR, "path": STR, "query_sql": STR, "description": STR,
                 "entities": {"type": "array", "items": STR,
                              "description": "The collections, views and aliases the view's SQL names."},
                 "state": {"type": "string", "enum": ["CREATED", "DELETED"]}, "created_at": STR, "modified_at": STR,
                 "creator_email": STR, "owner_email": STR, "created_by_apikey_name": STR}),
    "CreateViewRequest": obj({"name": {**STR, "pattern": "^[A-Za-z0-9_-]{1,100}$"}, "query": STR,
                              "description": STR}, ["name", "query"]),
    "UpdateViewRequest": obj({"query": STR, "description": STR}, ["query"]),
    "Alias": obj({"workspace": STR, "name": STR, "collections": {"type": "array", "items": STR},
                  "description": STR, "state": {"type": "string", "enum": ["CREATED", "DELETED"]},
                  "created_at": STR, "modified_at": STR, "creator_email": STR, "created_by_apikey_name": STR}),
    "CreateAliasRequest": obj({"name": {**STR, "pattern": "^[A-Za-z0-9_-]{1,100}$"},
                               "collections": {"type": "array", "items": STR, "minItems": 1, "maxItems": 1},
                               "description": STR}, ["name", "collections"]),
    "UpdateAliasRequest": obj({"collections": {"type": "array", "items": STR, "minItems": 1, "maxItems": 1},
                               "description": STR}, ["collections"]),
    "UpdateCollectionRequest": obj({"description": {**STR, "maxLength": 500}}, []),
    "CreateApiKeyRequest": obj({"name": {**STR, "pattern": "^[A-Za-z0-9_-]{1,64}$"}}, ["name"]),
}  # fmt: skip

ERRORS = {
    code: {"description": text, "content": {"application/json": {"schema": ref("ErrorModel")}}}
    for code, text in {
        "400": "INVALIDINPUT (the message names the field) or DEPENDENTRESOURCES",
        "401": "AUTHEXCEPTION",
        "404": "NOTFOUND",
        "409": "ALREADYEXISTS",
    }.items()
}


def op(
    summary: str, response: dict[str, Any], body: str | None = None, params: list[str] = (), wrapped: bool = True
) -> dict[str, Any]:
    """One operation; `wrapped`: the response is Rockset's `{"data": ...}` (a QueryResponse is not)."""
    schema = data_of(response) if wrapped else response
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": [{"name": p, "in": "path", "required": True, "schema": STR} for p in params],
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}, **ERRORS},
    }
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    return operation


def many(name: str) -> dict[str, Any]:
    return {"type": "array", "items": ref(name)}


WS = ["workspace"]
COL = ["workspace", "collection"]
SRC = ["workspace", "collection", "source"]
QL = ["workspace", "query_lambda"]
LAMBDA = "/v1/orgs/self/ws/{workspace}/lambdas/{query_lambda}"
PATHS: dict[str, Any] = {
    "/v1/orgs/self": {"get": op("Your organisation (its External ID for role trust policies)", ref("Organization"))},
    "/v1/orgs/self/ws": {"get": op("List workspaces", many("Workspace")),
                         "post": op("Create a workspace", ref("Workspace"), "CreateWorkspaceRequest")},
    "/v1/orgs/self/ws/{workspace}": {"get": op("Get a workspace", ref("Workspace"), params=WS),
                                     "delete": op("Delete an empty workspace", ref("Workspace"), params=WS)},
    "/v1/orgs/self/integrations": {
        "get": op("List integrations", many("Integration")),
        "post": op("Create a DynamoDB integration (its access is checked with AWS first)", ref("Integration"),
                   "CreateIntegrationRequest"),
    },
    "/v1/orgs/self/integrations/{integration}": {
        "get": op("Get an integration", ref("Integration"), params=["integration"]),
        "delete": op("Delete an integration no collection uses", ref("Integration"), params=["integration"]),
    },
    "/v1/orgs/self/collections": {"get": op("List collections in every workspace", many("Collection"))},
    "/v1/orgs/self/ws/{workspace}/collections": {
        "get": op("List a workspace's collections", many("Collection"), params=WS),
        "post": op("Create a DynamoDB collection", ref("Collection"), "CreateCollectionRequest", WS),
    },
    "/v1/orgs/self/ws/{workspace}/collections/{collection}": {
        "get": op("Get a collection, its source's state and its stats", ref("Collection"), params=COL),
        "put": op("Change a collection's description", ref("Collection"), "UpdateCollectionRequest", COL),
        "delete": op("Delete a collection (its sync stops at once)", ref("Collection"), params=COL),
    },
    "/v1/orgs/self/ws/{workspace}/collections/{collection}/sources": {
        "get": op("List a collection's sources", many("Source"), params=COL)},
    "/v1/orgs/self/ws/{workspace}/collections/{collection}/sources/{source}": {
        "get": op("Get a source", ref("Source"), params=SRC)},
    "/v1/orgs/self/ws/{workspace}/collections/{collection}/sources/{source}/suspend": {
        "post": op("Suspend a source (until resumed; it keeps its stream position)", ref("Source"), params=SRC)},
    "/v1/orgs/self/ws/{workspace}/collections/{collection}/sources/{source}/resume": {
        "post": op("Resume a source from where it stopped", ref("Source"), params=SRC)},
    "/v1/orgs/self/queries": {
        "get": op("List the queued and running queries", many("QueryInfo")),
        "post": op("Run a Rockset SQL query (or DESCRIBE), now or `async`; syntax errors carry `line` and `column`",
                   ref("QueryResponse"), "QueryRequest", wrapped=False)},
    "/v1/orgs/self/queries/{query_id}": {
        "get": op("Get a query's state", ref("QueryInfo"), params=["query_id"]),
        "delete": op("Cancel a queued or running query (its database statement is stopped)", ref("QueryInfo"),
                     params=["query_id"])},
    "/v1/orgs/self/queries/{query_id}/pages": {
        "get": op("A page of a kept result: `cursor` (from `pagination`), `docs`, `offset` in the query string",
                  ref("QueryPaginationResponse"), params=["query_id"], wrapped=False)},
    "/v1/orgs/self/queries/validations": {
        "post": op("Parse and check a query without running it", ref("ValidateQueryResponse"), "QueryRequest",
                   wrapped=False)},
    "/v1/orgs/self/lambdas": {"get": op("List Query Lambdas in every workspace", many("QueryLambda"))},
    "/v1/orgs/self/ws/{workspace}/lambdas": {
        "get": op("List a workspace's Query Lambdas", many("QueryLambda"), params=WS),
        "post": op("Create a Query Lambda (its first version; tag `latest` follows the newest)",
                   ref("QueryLambdaVersion"), "CreateQueryLambdaRequest", WS)},
    f"{LAMBDA}": {
        "get": op("Get a Query Lambda", ref("QueryLambda"), params=QL),
        "delete": op("Delete a Query Lambda with its versions and tags", ref("QueryLambda"), params=QL)},
    f"{LAMBDA}/versions": {
        "get": op("List a Query Lambda's versions, newest first", many("QueryLambdaVersion"), params=QL),
        "post": op("Update a Query Lambda: a new version (`?create=true` creates the lambda if missing)",
                   ref("QueryLambdaVersion"), "UpdateQueryLambdaRequest", QL)},
    f"{LAMBDA}/versions/{{version}}": {
        "get": op("Get a version", ref("QueryLambdaVersion"), params=[*QL, "version"]),
        "post": op("Execute a version", ref("QueryResponse"), "ExecuteQueryLambdaRequest", [*QL, "version"],
                   wrapped=False)},
    f"{LAMBDA}/version/{{version}}": {
        "delete": op("Delete a version no tag but `latest` points at", ref("QueryLambdaVersion"),
                     params=[*QL, "version"])},
    f"{LAMBDA}/tags": {
        "get": op("List a Query Lambda's tags", many("QueryLambdaTag"), params=QL),
        "post": op("Create a tag, or move it to another version", ref("QueryLambdaTag"),
                   "CreateQueryLambdaTagRequest", QL)},
    f"{LAMBDA}/tags/{{tag}}": {
        "get": op("Get the version a tag points at", ref("QueryLambdaTag"), params=[*QL, "tag"]),
        "post": op("Execute the version a tag points at", ref("QueryResponse"), "ExecuteQueryLambdaRequest",
                   [*QL, "tag"], wrapped=False),
        "delete": op("Delete a tag (not `latest`)", ref("QueryLambdaTag"), params=[*QL, "tag"])},
    "/v1/orgs/self/views": {"get": op("List views in every workspace", many("View"))},
    "/v1/orgs/self/ws/{workspace}/views": {
        "get": op("List a workspace's views", many("View"), params=WS),
        "post": op("Create a view: a named SELECT, usable wherever a collection name is", ref("View"),
                   "CreateViewRequest", WS)},
    "/v1/orgs/self/ws/{workspace}/views/{view}": {
        "get": op("Get a view, its entities and state", ref("View"), params=[*WS, "view"]),
        "post": op("Change a view's SQL (checked again; cycles refused)", ref("View"), "UpdateViewRequest",
                   [*WS, "view"]),
        "delete": op("Delete a view no other view or Query Lambda reads", ref("View"), params=[*WS, "view"])},
    "/v1/orgs/self/aliases": {"get": op("List aliases in every workspace", many("Alias"))},
    "/v1/orgs/self/ws/{workspace}/aliases": {
        "get": op("List a workspace's aliases", many("Alias"), params=WS),
        "post": op("Create an alias of one collection", ref("Alias"), "CreateAliasRequest", WS)},
    "/v1/orgs/self/ws/{workspace}/aliases/{alias}": {
        "get": op("Get an alias", ref("Alias"), params=[*WS, "alias"]),
        "post": op("Switch an alias to another collection, atomically", ref("Alias"), "UpdateAliasRequest",
                   [*WS, "alias"]),
        "delete": op("Delete an alias no view or Query Lambda reads", ref("Alias"), params=[*WS, "alias"])},
    "/v1/orgs/self/users/self/apikeys": {
        "get": op("List your API keys", many("ApiKey")),
        "post": op("Create an API key (the response holds the key, once)", ref("ApiKey"), "CreateApiKeyRequest"),
    },
    "/v1/orgs/self/users/{user}/apikeys/{name}": {
        "get": op("Get one of your API keys (`self` or your email)", ref("ApiKey"), params=["user", "name"]),
        "delete": op("Revoke one of your API keys", ref("ApiKey"), params=["user", "name"]),
    },
}  # fmt: skip


def openapi_document(server_url: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Millrace REST API (Rockset-compatible)",
            "version": "1",
            "description": "Rockset's v1 API for DynamoDB integrations and collections. Authenticate with "
            "`Authorization: ApiKey <key>`; every object belongs to the key's organisation. Errors carry "
            "Rockset's body: `message`, `type`, `trace_id`, `error_id`.",
        },
        "servers": [{"url": server_url}],
        "security": [{"ApiKey": []}],
        "components": {
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "Authorization"}},
            "schemas": SCHEMAS,
        },
        "paths": PATHS,
    }
