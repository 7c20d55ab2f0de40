from __future__ import annotations

import json

from integrations.models import Integration
from integrations.policy import policy_document, trust_policy_json


def resources(integration: Integration) -> dict[str, list[str] | str]:
    return {s["Sid"]: s["Resource"] for s in policy_document(integration)["Statement"]}


def test_one_table_in_any_region():
    got = resources(Integration(scope="table", table_name="orders"))
    assert got == {
        "MillraceReadTables": [
            "arn:aws:dynamodb:*:*:table/orders",
            "arn:aws:dynamodb:*:*:table/orders/stream/*",
            "arn:aws:dynamodb:*:*:table/orders/export/*",
        ]
    }


def test_a_prefix_in_one_region_can_also_list_tables():
    got = resources(Integration(scope="prefix", table_name="prod", region="us-west-2"))
    assert got["MillraceReadTables"][0] == "arn:aws:dynamodb:us-west-2:*:table/prod*"
    assert got["MillraceReadTables"][1] == "arn:aws:dynamodb:us-west-2:*:table/prod*/stream/*"
    assert got["MillraceListTables"] == "*"


def test_all_tables_with_a_bucket_prefix():
    got = resources(Integration(scope="all", s3_bucket="mybucket", s3_prefix="salesdata"))
    assert got["MillraceReadTables"][0] == "arn:aws:dynamodb:*:*:table/*"
    assert got["MillraceExportBucket"] == ["arn:aws:s3:::mybucket", "arn:aws:s3:::mybucket/salesdata/*"]


def test_the_actions_are_rocksets_plus_what_aws_needs_for_exports_and_deleting_them():
    document = policy_document(Integration(scope="table", table_name="t", s3_bucket="b"))
    actions = {a for s in document["Statement"] for a in s["Action"]}
    rockset = {"dynamodb:Scan", "dynamodb:DescribeStream", "dynamodb:DescribeExport", "dynamodb:GetRecords",
               "dynamodb:GetShardIterator", "dynamodb:DescribeTable", "dynamodb:DescribeContinuousBackups",
               "dynamodb:ExportTableToPointInTime", "dynamodb:UpdateTable", "dynamodb:UpdateContinuousBackups",
               "s3:PutObject", "s3:GetObject", "s3:ListBucket"}  # fmt: skip
    assert rockset <= actions
    assert actions - rockset == {"s3:AbortMultipartUpload", "s3:PutObjectAcl", "s3:DeleteObject"}
    assert document["Version"] == "2012-10-17"


def test_the_trust_policy_requires_the_external_id():
    document = json.loads(trust_policy_json("arn:aws:iam::999999999999:user/millrace", "abc123"))
    statement = document["Statement"][0]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::999999999999:user/millrace"}
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "abc123"}}
