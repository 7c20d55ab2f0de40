"""Item sizes as DynamoDB counts them (closely enough to plan reads): names plus values."""

from __future__ import annotations


def item_size(item: dict) -> int:
    """Roughly how DynamoDB sizes an item: attribute names plus values (numbers ~1 byte per 2 digits)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(attribute: dict) -> int:
    ((tag, raw),) = attribute.items()
    if tag == "S":
        return len(raw.encode())
    if tag == "N":
        return len(raw) // 2 + 1
    if tag == "B":
        return len(raw)
    if tag in ("BOOL", "NULL"):
        return 1
    if tag == "M":
        return 3 + item_size(raw)
    if tag == "L":
        return 3 + sum(_value_size(v) + 1 for v in raw)
    if tag == "SS":
        return sum(len(s.encode()) for s in raw)
    if tag == "NS":
        return sum(len(n) // 2 + 1 for n in raw)
    return sum(len(b) for b in raw)  # BS
