"""The IAM policy a user attaches for an integration, generated for its scope, and why each action is there.

Actions follow Rockset's published policy, plus what AWS documents for exports (s3:AbortMultipartUpload
and s3:PutObjectAcl) and dynamodb:ListTables for prefix/all scopes, which the table picker needs and
which IAM can only grant on "*".
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from integrations.models import Integration


@dataclass(frozen=True)
class Permission:
    action: str
    purpose: str
    required: bool
    without_it: str


TABLE_PERMISSIONS = [
    Permission(
        "dynamodb:DescribeTable",
        "Read the table's size, keys, capacity and stream settings.",
        True,
        "Nothing works: Millrace can't see the table.",
    ),
    Permission(
        "dynamodb:Scan",
        "Preview items in the collection wizard and load the table by Table Scan.",
        True,
        "No preview, and the Table Scan method fails.",
    ),
    Permission("dynamodb:DescribeStream", "Find the stream's shards for live sync.", True, "Live sync can't start."),
    Permission(
        "dynamodb:GetShardIterator", "Start reading a stream shard at a position.", True, "Live sync can't start."
    ),
    Permission("dynamodb:GetRecords", "Read changes from the stream.", True, "Live sync can't start."),
    Permission(
        "dynamodb:DescribeContinuousBackups",
        "Check that point-in-time recovery is on before an export.",
        False,
        "The Export using S3 method can't be used.",
    ),
    Permission(
        "dynamodb:UpdateContinuousBackups",
        "Turn point-in-time recovery on so the table can be exported.",
        False,
        "You turn on point-in-time recovery yourself before choosing Export.",
    ),
    Permission(
        "dynamodb:ExportTableToPointInTime",
        "Ask DynamoDB to export the table to your bucket.",
        False,
        "The Export using S3 method can't be used.",
    ),
    Permission(
        "dynamodb:DescribeExport",
        "Follow the export until its files are ready.",
        False,
        "The Export using S3 method can't be used.",
    ),
    Permission(
        "dynamodb:UpdateTable",
        "Turn on the table's stream (NEW_AND_OLD_IMAGES) when it is off.",
        False,
        "You turn on the stream yourself, with view type NEW_AND_OLD_IMAGES.",
    ),
]
LIST_PERMISSION = Permission(
    "dynamodb:ListTables",
    'List the tables in the scope when you create a collection. IAM only grants it on "*".',
    True,
    "The collection wizard can't list tables; you type the table name instead.",
)
BUCKET_PERMISSIONS = [
    Permission("s3:ListBucket", "Find the export's files in the bucket.", True, "Exports can't be read."),
    Permission("s3:GetObject", "Download the export's files.", True, "Exports can't be read."),
    Permission(
        "s3:PutObject",
        "DynamoDB writes the export into the bucket with your credentials.",
        True,
        "Exports fail to start.",
    ),
    Permission(
        "s3:AbortMultipartUpload",
        "Lets DynamoDB clean up a failed export upload (AWS requires it).",
        True,
        "Exports fail to start.",
    ),
    Permission(
        "s3:PutObjectAcl", "DynamoDB sets the ACL of exported files (AWS requires it).", True, "Exports fail to start."
    ),
    Permission(
        "s3:DeleteObject",
        "Delete an export's files once the initial load is done (the button on the collection page).",
        False,
        "You delete old exports in S3 yourself.",
    ),
]


def permissions_for(integration: Integration) -> list[Permission]:
    permissions = list(TABLE_PERMISSIONS)
    if integration.scope != Integration.Scope.TABLE:
        permissions.append(LIST_PERMISSION)
    if integration.s3_bucket:
        permissions += BUCKET_PERMISSIONS
    return permissions


def table_resources(integration: Integration) -> list[str]:
    region = integration.region or "*"
    table = f"arn:aws:dynamodb:{region}:*:table/{integration.table_arn_pattern}"
    return [table, f"{table}/stream/*", f"{table}/export/*"]


def bucket_resources(integration: Integration) -> list[str]:
    prefix = integration.s3_prefix.strip("/")
    objects = f"{prefix}/*" if prefix else "*"
    return [f"arn:aws:s3:::{integration.s3_bucket}", f"arn:aws:s3:::{integration.s3_bucket}/{objects}"]


def policy_document(integration: Integration) -> dict:
    statements = [
        {
            "Sid": "MillraceReadTables",
            "Effect": "Allow",
            "Action": [p.action for p in TABLE_PERMISSIONS],
            "Resource": table_resources(integration),
        }
    ]
    if integration.scope != Integration.Scope.TABLE:
        statements.append(
            {"Sid": "MillraceListTables", "Effect": "Allow", "Action": [LIST_PERMISSION.action], "Resource": "*"}
        )
    if integration.s3_bucket:
        statements.append(
            {
                "Sid": "MillraceExportBucket",
                "Effect": "Allow",
                "Action": [p.action for p in BUCKET_PERMISSIONS],
                "Resource": bucket_resources(integration),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def policy_json(integration: Integration) -> str:
    return json.dumps(policy_document(integration), indent=2)


def trust_policy_json(principal_arn: str, external_id: str) -> str:
    """The role's trust policy: only Millrace's principal, and only with the organisation's External ID."""
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": principal_arn},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }
    return json.dumps(document, indent=2)
