"""Sample data for the sandbox: `orders` (every DynamoDB type), `customers`, an export bucket, a role."""

from __future__ import annotations

import json
import random
from typing import Any

ORDERS = "orders"
CUSTOMERS = "customers"
EXPORT_BUCKET = "millrace-exports"
SANDBOX_ROLE = "millrace-sandbox"
ORDER_STATUSES = ["placed", "paid", "packed", "shipped", "delivered"]


def order_item(n: int, rng: random.Random) -> dict[str, Any]:
    """One order in DynamoDB's wire format, covering every attribute type across the table."""
    lines = [
        {"M": {"sku": {"S": f"SKU-{rng.randrange(1000):04d}"}, "qty": {"N": str(rng.randrange(1, 6))},
               "price": {"N": f"{rng.randrange(100, 99999) / 100:.2f}"}}}
        for _ in range(rng.randrange(1, 4))
    ]  # fmt: skip
    item: dict[str, Any] = {
        "order_id": {"S": f"ord-{n:06d}"},
        "customer_id": {"S": f"cust-{rng.randrange(500):04d}"},
        "status": {"S": rng.choice(ORDER_STATUSES)},
        "placed_at": {"S": f"2026-{rng.randrange(1, 12):02d}-{rng.randrange(1, 28):02d}T12:00:00Z"},
        "paid": {"BOOL": rng.random() < 0.8},
        "quantity": {"N": str(rng.randrange(1, 20))},
        # 38 significant digits: a float would round this, DynamoDB keeps it exactly.
        "ledger_total": {"N": f"{rng.randrange(10**19, 10**20)}.{rng.randrange(10**17, 10**18)}"},
        "discount": {"N": "-0.05"},
        "lines": {"L": lines},
        "shipping": {"M": {
            "method": {"S": rng.choice(["standard", "express"])},
            "eta_days": {"N": str(rng.randrange(1, 8))},
            "address": {"M": {"city": {"S": rng.choice(["Lisbon", "Oslo", "Lagos", "Osaka"])},
                              "lines": {"L": [{"S": f"{rng.randrange(1, 300)} Mill Lane"}]}}},
        }},
        "tags": {"SS": sorted(rng.sample(["gift", "fragile", "bulk", "priority", "repeat"], 2))},
        "line_counts": {"NS": sorted({str(rng.randrange(1, 50)) for _ in range(3)})},
        "checksums": {"BS": [bytes([n % 256, 1]), b"\x00\xff"]},  # bytes: boto3 base64-encodes them itself
        "receipt_pdf_head": {"B": b"%PDF-1.7\n" + bytes([n % 256])},
        "coupon": {"NULL": True},
    }  # fmt: skip
    if n % 10 == 0:  # empty values are legal in DynamoDB and must survive replication
        item["notes"] = {"S": ""}
        item["gift_wrap"] = {"M": {}}
        item["returns"] = {"L": []}
    return item


def customer_item(n: int) -> dict[str, Any]:
    return {"customer_id": {"S": f"cust-{n:04d}"}, "name": {"S": f"Customer {n}"}, "vip": {"BOOL": n % 7 == 0}}


def _batch_write(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        while request:
            request = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems") or None


def seed(session: Any, endpoint_url: str, region: str, orders: int = 5000, customers: int = 500) -> list[str]:
    """Create what the sandbox offers, skipping what already exists. Returns what was created."""
    dynamodb = session.client("dynamodb", region_name=region, endpoint_url=endpoint_url)
    created = []
    existing = set(dynamodb.list_tables()["TableNames"])
    if ORDERS not in existing:
        dynamodb.create_table(
            TableName=ORDERS,
            KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 100, "WriteCapacityUnits": 100},
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        dynamodb.update_continuous_backups(
            TableName=ORDERS, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
        rng = random.Random(42)
        _batch_write(dynamodb, ORDERS, [order_item(n, rng) for n in range(1, orders + 1)])
        created.append(f"table {ORDERS} ({orders} items, 100 RCU, stream NEW_AND_OLD_IMAGES, PITR on)")
    if CUSTOMERS not in existing:
        dynamodb.create_table(
            TableName=CUSTOMERS,
            KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        _batch_write(dynamodb, CUSTOMERS, [customer_item(n) for n in range(customers)])
        created.append(f"table {CUSTOMERS} ({customers} items, on-demand, no stream)")

    s3 = session.client("s3", region_name=region, endpoint_url=endpoint_url)
    if EXPORT_BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        kwargs = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=EXPORT_BUCKET, **kwargs)
        created.append(f"bucket {EXPORT_BUCKET}")

    iam = session.client("iam", region_name=region, endpoint_url=endpoint_url)
    if SANDBOX_ROLE not in {r["RoleName"] for r in iam.list_roles()["Roles"]}:
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}  # fmt: skip
        iam.create_role(RoleName=SANDBOX_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
        created.append(f"role arn:aws:iam::123456789012:role/{SANDBOX_ROLE}")
    return created
