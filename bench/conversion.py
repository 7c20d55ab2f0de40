"""Conversion: our converter vs boto3's TypeDeserializer + json.dumps on the same 100,000 mixed items."""

from __future__ import annotations

import base64
import json
import random
import time
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer

from ingest import convert

ITEMS = 100_000


def mixed_item(n: int, rng: random.Random) -> dict[str, Any]:
    """As boto3's low-level client returns an item: B as bytes, N as text."""
    return {
        "pk": {"S": f"order-{n:07d}"},
        "sk": {"N": str(n % 97)},
        "total": {"N": f"{rng.randrange(10**19, 10**20)}.{rng.randrange(10**17, 10**18)}"},
        "qty": {"N": str(rng.randrange(1, 50))},
        "price": {"N": f"{rng.randrange(100, 99999) / 100:.2f}"},
        "paid": {"BOOL": rng.random() < 0.5},
        "coupon": {"NULL": True},
        "note": {"S": "x" * rng.randrange(0, 40)},
        "receipt": {"B": rng.randbytes(24)},
        "tags": {"SS": ["a", "b", f"t{n % 5}"]},
        "counts": {"NS": ["1", "2.5", str(n)]},
        "ship": {"M": {"city": {"S": "Oslo"}, "eta": {"N": "3"}, "lines": {"L": [{"S": "Mill Lane"}, {"N": "12"}]}}},
        "lines": {"L": [{"M": {"sku": {"S": "A-1"}, "qty": {"N": "2"}, "price": {"N": "9.99"}}} for _ in range(2)]},
    }


def boto3_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # json can't write a Decimal as a number; text is the only exact choice
    if isinstance(value, Binary):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, set):
        return sorted(value, key=str)
    raise TypeError(type(value))


def boto3_pipeline(items: list[dict[str, Any]]) -> list[str]:
    deserializer = TypeDeserializer()
    return [
        json.dumps({k: deserializer.deserialize(v) for k, v in item.items()}, default=boto3_default) for item in items
    ]


def our_pipeline(items: list[dict[str, Any]]) -> list[str]:
    return [convert.item_to_json(item) for item in items]


def best_of(runs: int, fn: Any, items: list[dict[str, Any]]) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn(items)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> dict[str, float]:
    rng = random.Random(1)
    items = [mixed_item(n, rng) for n in range(ITEMS)]
    ours = best_of(3, our_pipeline, items)
    theirs = best_of(3, boto3_pipeline, items)
    exact = all(
        json.loads(text, parse_float=Decimal)["total"] == Decimal(item["total"]["N"])
        for item, text in zip(items, our_pipeline(items), strict=True)
    )
    print(
        f"conversion: ours {ITEMS / ours:,.0f} items/s, boto3 TypeDeserializer+json.dumps {ITEMS / theirs:,.0f} items/s"
    )
    print(f"conversion: ratio {theirs / ours:.2f}x (goal >= 4x); all 100,000 38-digit numbers exact: {exact}")
    return {"ratio": theirs / ours}


if __name__ == "__main__":
    main()
