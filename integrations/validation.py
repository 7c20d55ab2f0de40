"""Check, for real, that an integration's credentials can do what its scope needs.

Each check is one cheap AWS call standing for one permission. The result is a checklist a person can
act on: what passed, AWS's own error for what failed, and what to change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings

from integrations import aws
from integrations.models import Integration

CHECK_OBJECT = ".millrace/access-check.txt"


@dataclass
class Check:
    key: str
    label: str
    permission: str
    essential: bool
    status: str = "skipped"  # passed | failed | skipped
    detail: str = ""
    aws_error: str = ""
    advice: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def essentials_pass(report: list[dict[str, Any]]) -> bool:
    return all(c["status"] != "failed" for c in report if c["essential"]) and any(
        c["status"] == "passed" for c in report
    )


def _advice_for(code: str, permission: str, resource: str) -> str:
    if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"}:
        return f"Allow {permission} on {resource} in the policy attached to the role or user (step 2)."
    if code in {"ResourceNotFoundException"}:
        return f"Check the name and the region: {resource} was not found."
    if code == "NoSuchBucket":
        return f"Create the bucket {resource}, or correct its name in step 1."
    if code in {"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch"}:
        return "The access key is not valid: copy the key id and secret again, or create a new key."
    if code == "EndpointConnectionError":
        return "Check the network path from this server to AWS."
    return "See AWS's message above."


class _Checker:
    def __init__(self, integration: Integration) -> None:
        self.integration = integration
        self.region = integration.region or settings.MILLRACE_AWS_REGION
        self.checks: list[Check] = []

    def run(self, check: Check, resource: str, call: Callable[[], str]) -> bool:
        """Run one call; its return value is the detail shown when it passes."""
        self.checks.append(check)
        try:
            check.detail = call()
            check.status = "passed"
        except Exception as exc:  # noqa: BLE001 - every AWS failure becomes a line of the checklist
            error = aws.as_aws_error(exc)
            check.status = "failed"
            check.aws_error = f"{error.code}: {error.message}"
            check.advice = _advice_for(error.code, check.permission, resource)
        return check.passed

    def skip(self, check: Check, why: str) -> None:
        check.detail = why
        self.checks.append(check)


def validate(integration: Integration) -> list[dict[str, Any]]:
    """Return the checklist as plain dicts (it is stored on the integration and in the wizard's session)."""
    checker = _Checker(integration)
    session_holder: dict[str, Any] = {}

    def sign_in() -> str:
        session = aws.integration_session(integration)
        identity = aws.client(session, "sts", checker.region).get_caller_identity()
        session_holder["session"] = session
        return f"Signed in as {identity['Arn']}"

    if integration.auth_method == Integration.AuthMethod.ROLE:
        sign_in_check = Check("credentials", "Assume the role with your External ID", "sts:AssumeRole", True)
        resource = integration.role_arn
    else:
        sign_in_check = Check("credentials", "Sign in with the access key", "sts:GetCallerIdentity", True)
        resource = integration.access_key_id
    if not checker.run(sign_in_check, resource, sign_in):
        if integration.auth_method == Integration.AuthMethod.ROLE:
            sign_in_check.advice = (
                "Check the role's trust policy: it must trust Millrace's principal and require exactly this "
                "organisation's External ID (shown on the Access step), and the role ARN must be right."
            )
        return [asdict(c) for c in checker.checks]

    session = session_holder["session"]
    dynamodb = aws.client(session, "dynamodb", checker.region)
    table_arn = f"arn:aws:dynamodb:{checker.region}:*:table/{integration.table_arn_pattern}"
    described: dict[str, Any] = {}

    def describe(table_name: str) -> Callable[[], str]:
        def call() -> str:
            described.update(dynamodb.describe_table(TableName=table_name)["Table"])
            return f"{table_name}: {described.get('ItemCount', 0):,} items, {described['TableStatus'].lower()}"

        return call

    if integration.scope == Integration.Scope.TABLE:
        checker.run(
            Check("describe_table", f"Read table {integration.table_name}", "dynamodb:DescribeTable", True),
            table_arn,
            describe(integration.table_name),
        )
    else:
        matching: list[str] = []

        def list_tables() -> str:
            for page in dynamodb.get_paginator("list_tables").paginate():
                matching.extend(t for t in page["TableNames"] if integration.covers_table(t))
            if not matching:
                return f"No table in {checker.region} matches the scope yet."
            tables = f"{len(matching)} table{'s' if len(matching) != 1 else ''}"
            return f"{tables} in scope in {checker.region}: {', '.join(matching[:5])}" + (
                "…" if len(matching) > 5 else ""
            )

        listed = checker.run(Check("list_tables", "List tables", "dynamodb:ListTables", True), "*", list_tables)
        describe_check = Check("describe_table", "Read a table in scope", "dynamodb:DescribeTable", True)
        if listed and matching:
            describe_check.label = f"Read table {matching[0]}"
            checker.run(describe_check, table_arn, describe(matching[0]))
        else:
            describe_check.essential = False
            checker.skip(describe_check, "No table in scope to read.")

    stream_check = Check("describe_stream", "Read the table's stream", "dynamodb:DescribeStream", True)
    stream_arn = described.get("LatestStreamArn")
    if stream_arn and described.get("StreamSpecification", {}).get("StreamEnabled"):
        streams = aws.client(session, "dynamodbstreams", checker.region)

        def describe_stream() -> str:
            description = streams.describe_stream(StreamArn=stream_arn, Limit=1)["StreamDescription"]
            return f"Stream {description['StreamStatus'].lower()}, view type {description.get('StreamViewType')}"

        checker.run(stream_check, f"{table_arn}/stream/*", describe_stream)
    else:
        stream_check.essential = False
        checker.skip(
            stream_check,
            "The table has no stream yet; the collection wizard offers to turn it on (or shows how)."
            if described
            else "No table was read, so there is no stream to check.",
        )

    if integration.s3_bucket:
        _check_bucket(checker, session)
    return [asdict(c) for c in checker.checks]


def _check_bucket(checker: _Checker, session: Any) -> None:
    integration = checker.integration
    s3 = aws.client(session, "s3", checker.region)
    bucket = integration.s3_bucket
    prefix = integration.s3_prefix.strip("/")
    key = f"{prefix}/{CHECK_OBJECT}" if prefix else CHECK_OBJECT
    bucket_arn = f"arn:aws:s3:::{bucket}"

    def list_bucket() -> str:
        s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        return f"Bucket {bucket} is readable"

    def put_object() -> str:
        s3.put_object(Bucket=bucket, Key=key, Body=b"Written by Millrace to check access. Safe to delete.\n")
        return f"Wrote s3://{bucket}/{key}"

    def get_object() -> str:
        s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return f"Read s3://{bucket}/{key}"

    if not checker.run(Check("s3_list", f"List bucket {bucket}", "s3:ListBucket", True), bucket_arn, list_bucket):
        return
    wrote = checker.run(Check("s3_put", "Write to the bucket", "s3:PutObject", True), f"{bucket_arn}/*", put_object)
    get_check = Check("s3_get", "Read from the bucket", "s3:GetObject", True)
    if wrote:
        checker.run(get_check, f"{bucket_arn}/*", get_object)
    else:
        checker.skip(get_check, "Needs the write check to pass first.")
