"""What the collection wizard reads about a table, through the integration's own credentials."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from integrations import aws
from integrations.models import Integration

PREVIEW_ITEMS = 20
LIST_LIMIT = 1000  # more than anyone scrolls; beyond it the user types the name


@dataclass
class TableSummary:
    name: str
    region: str
    arn: str
    status: str
    item_count: int
    size_bytes: int
    billing_mode: str  # PROVISIONED | PAY_PER_REQUEST
    provisioned_rcu: int
    key_schema: list[dict[str, str]]
    attribute_types: dict[str, str]
    stream_enabled: bool
    stream_view_type: str
    stream_arn: str
    on_demand_max_rcu: int  # the table's own on-demand cap, 0 when none
    pitr_status: str = ""  # ENABLED | DISABLED | "" when it couldn't be read
    pitr_error: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def on_demand(self) -> bool:
        return self.billing_mode == "PAY_PER_REQUEST"

    @property
    def stream_ok(self) -> bool:
        return self.stream_enabled and self.stream_view_type == "NEW_AND_OLD_IMAGES"

    @property
    def pitr_enabled(self) -> bool:
        return self.pitr_status == "ENABLED"

    @property
    def keys(self) -> list[tuple[str, str, str]]:
        """(name, HASH/RANGE, S/N/B), partition key first."""
        ordered = sorted(self.key_schema, key=lambda k: k["KeyType"] != "HASH")
        return [(k["AttributeName"], k["KeyType"], self.attribute_types.get(k["AttributeName"], "")) for k in ordered]


def _dynamodb(integration: Integration, region: str) -> Any:
    """The integration's client; assuming its role already calls STS, so that failing (STS out of reach,
    the role refused) reads like any other AWS error on the page instead of an error 500."""
    return _call(aws.integration_client, integration=integration, service="dynamodb", region=region)


def _call(function: Any, **kwargs: Any) -> Any:
    try:
        return function(**kwargs)
    except Exception as exc:  # noqa: BLE001 - callers show AWS's words; unknown errors still propagate
        raise aws.as_aws_error(exc) from exc


def list_tables(integration: Integration, region: str) -> tuple[list[str], bool]:
    """Tables in the integration's scope, and whether the list was cut at LIST_LIMIT."""
    if integration.scope == Integration.Scope.TABLE:
        return [integration.table_name], False
    paginator = _dynamodb(integration, region).get_paginator("list_tables")
    names: list[str] = []
    try:
        for page in paginator.paginate():
            names.extend(n for n in page["TableNames"] if integration.covers_table(n))
            if len(names) >= LIST_LIMIT:
                return names[:LIST_LIMIT], True
    except Exception as exc:  # noqa: BLE001
        raise aws.as_aws_error(exc) from exc
    return names, False


def describe_table(integration: Integration, region: str, name: str) -> TableSummary:
    dynamodb = _dynamodb(integration, region)
    table = _call(dynamodb.describe_table, TableName=name)["Table"]
    billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    stream = table.get("StreamSpecification") or {}
    summary = TableSummary(
        name=name,
        region=region,
        arn=table["TableArn"],
        status=table["TableStatus"],
        item_count=table.get("ItemCount", 0),
        size_bytes=table.get("TableSizeBytes", 0),
        billing_mode=billing,
        # DescribeTable keeps a stale figure after a switch to on-demand; it means nothing there.
        provisioned_rcu=0 if billing == "PAY_PER_REQUEST" else table["ProvisionedThroughput"]["ReadCapacityUnits"],
        key_schema=table["KeySchema"],
        attribute_types={a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])},
        stream_enabled=bool(stream.get("StreamEnabled")),
        stream_view_type=stream.get("StreamViewType", ""),
        stream_arn=table.get("LatestStreamArn", "") if stream.get("StreamEnabled") else "",
        on_demand_max_rcu=max(0, table.get("OnDemandThroughput", {}).get("MaxReadRequestUnits", 0) or 0),
    )
    try:
        backups = _call(dynamodb.describe_continuous_backups, TableName=name)["ContinuousBackupsDescription"]
        summary.pitr_status = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus", "")
    except aws.AwsError as error:
        summary.pitr_error = f"{error.code}: {error.message}"
    return summary


def preview_items(integration: Integration, region: str, name: str) -> list[dict[str, Any]]:
    """The first items, eventually consistent (half the read cost of the strongly consistent load)."""
    return _call(_dynamodb(integration, region).scan, TableName=name, Limit=PREVIEW_ITEMS)["Items"]


def enable_stream(integration: Integration, region: str, name: str) -> None:
    _call(
        _dynamodb(integration, region).update_table,
        TableName=name,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
