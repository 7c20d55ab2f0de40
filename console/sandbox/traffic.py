"""A gentle write load on `orders` so that live sync has something to show."""

from __future__ import annotations

import random
import threading
from typing import Any

from console.sandbox.seed import ORDER_STATUSES, ORDERS, order_item


def run_traffic(
    dynamodb: Any, stop: threading.Event, *, writes_per_second: float = 3.0, seeded_orders: int = 5000, seed: int = 7
) -> None:
    """Until `stop` is set: mostly updates, some new orders, the odd delete of a traffic-made order."""
    rng = random.Random(seed)
    next_id = 900_000
    made: list[str] = []
    while not stop.wait(1.0 / writes_per_second):
        roll = rng.random()
        try:
            if roll < 0.35:
                next_id += 1
                dynamodb.put_item(TableName=ORDERS, Item=order_item(next_id, rng))
                made.append(f"ord-{next_id:06d}")
            elif roll < 0.9:
                dynamodb.update_item(
                    TableName=ORDERS,
                    Key={"order_id": {"S": f"ord-{rng.randrange(1, seeded_orders + 1):06d}"}},
                    UpdateExpression="SET #s = :s, quantity = :q",
                    ConditionExpression="attribute_exists(order_id)",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":s": {"S": rng.choice(ORDER_STATUSES)},
                                               ":q": {"N": str(rng.randrange(1, 20))}},
                )  # fmt: skip
            elif made:
                dynamodb.delete_item(TableName=ORDERS, Key={"order_id": {"S": made.pop(rng.randrange(len(made)))}})
        except dynamodb.exceptions.ConditionalCheckFailedException:
            pass  # that order was deleted; the next write picks another
