"""Fields for the engine's log lines: which collection (and shard) a line is about, as structured data
that JSON logs (LOG_FORMAT=json) carry as fields of their own, so a log search needs no text matching."""

from __future__ import annotations

from typing import Any


def about(source: Any = None, shard: Any = None) -> dict[str, str]:
    """`extra=` for a line about `source` and/or `shard` (the shard's source is used when no source is given)."""
    source = source if source is not None else getattr(shard, "source", None)
    fields: dict[str, str] = {}
    if source is not None:
        fields["collection"] = str(source.collection)
    if shard is not None:
        fields["shard"] = shard.shard_id
    return fields
