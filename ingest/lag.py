"""How far behind its table a collection is, from what was really read (invariant 8); one definition for
the collection's page, the API, /metrics and the lag alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ingest import timing


@dataclass(frozen=True)
class Shards:
    """The source's unfinished shards, as far as lag is concerned."""

    open: int = 0
    caught_up: int = 0  # whose last GetRecords found nothing more
    read: int = 0  # that were read at least once
    oldest_read: datetime | None = None  # the least recent last read among them


def behind_seconds(
    shards: Shards, last_record_at: datetime | None, now: datetime, *, stalled: bool = False
) -> float | None:
    """0 when the last GetRecords of every open shard found nothing more and answered within
    `timing.CAUGHT_UP_SECONDS` (and nothing is stalled); otherwise now minus the newest applied record's
    ApproximateCreationDateTime (or the oldest last read, when every shard was caught up then). None before
    anything was read or applied. While nothing is read (paused, a worker down) it keeps growing."""
    if not shards.open:  # none known yet, or a shard just finished and its child isn't listed yet
        return None if last_record_at is None else max(0.0, (now - last_record_at).total_seconds())
    if shards.read == shards.open and shards.caught_up == shards.open and shards.oldest_read:
        age = (now - shards.oldest_read).total_seconds()  # everything was read, up to this long ago
        return 0.0 if age <= timing.CAUGHT_UP_SECONDS and not stalled else max(0.0, age)
    since = last_record_at or shards.oldest_read
    return None if since is None else max(0.0, (now - since).total_seconds())
