"""DynamoDB keys as JSON: LastEvaluatedKey checkpoints hold binary keys, which JSON can't carry raw."""

from __future__ import annotations

import base64
from typing import Any


def key_to_json(key: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, str]] | None:
    if key is None:
        return None
    return {
        name: {"B": base64.b64encode(value["B"]).decode()} if "B" in value else value for name, value in key.items()
    }


def key_from_json(key: dict[str, dict[str, str]] | None) -> dict[str, dict[str, Any]] | None:
    if key is None:
        return None
    return {name: {"B": base64.b64decode(value["B"])} if "B" in value else value for name, value in key.items()}
