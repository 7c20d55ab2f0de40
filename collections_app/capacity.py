"""Read-capacity arithmetic the wizard explains: how long a Table Scan takes, and which method to pick.

A strongly consistent read of up to 4 KB costs one RCU, so a Scan reading at R RCU moves about
4 KB × R per second. Export to S3 uses no read capacity but takes five minutes or more to set up, whatever the size.
"""

from __future__ import annotations

from dataclasses import dataclass

from collections_app.tables import TableSummary
from ingest import health, pacing
from ingest.sizes import item_size

BYTES_PER_RCU_SECOND = 4096
EXPORT_SETUP_SECONDS = 5 * 60  # DynamoDB's export of even a tiny table: five minutes or more
SCAN_SIZE_LIMIT = 5 * 1024**3  # Rockset's advice: Table Scan only for tables under 5 GB
ON_DEMAND_TABLE_QUOTA = 40_000  # AWS's default per-table read request unit quota
ON_DEMAND_DEFAULT_RCU = 1_000


@dataclass(frozen=True)
class Recommendation:
    method: str  # "export" | "scan"
    reason: str


# The engine's pacing (ingest.pacing): a Scan reads at most rcu ÷ (1 + d) a second, d being a call's duration,
# if its segments in flight, each moving a page per round trip, offer that much; a page is at most 1 MB. The
# round trip and call duration are what the engine measures on a modest machine against DynamoDB in region
# (bench/scan.py prints them on moto); the segments in flight are the worker's slots (`make run` starts one
# worker of four) or the segments the engine cuts, whichever is fewer. Before the first page come the
# queueing of the load's task, DescribeTable and the stream's start position: about a supervisor tick or two.
CALL_SECONDS = 0.1
FULL_PAGE_RCU = pacing.FULL_PAGE_RCU
ROUND_TRIP_SECONDS = 0.25
WORKER_SLOTS = 4
START_SECONDS = 10.0


def scan_pacing_seconds(
    size_bytes: int,
    rcu: int,
    *,
    item_bytes: float = BYTES_PER_RCU_SECOND,
    call_seconds: float = CALL_SECONDS,
    round_trip: float = ROUND_TRIP_SECONDS,
    in_flight: int | None = None,
) -> float:
    """How long the engine's pacing lets a Scan of this many bytes take at this RCU, once it runs."""
    segments = pacing.segment_total(rcu, size_bytes, item_bytes, round_trip)
    in_flight = min(WORKER_SLOTS, segments) if in_flight is None else in_flight
    return pacing.scan_seconds(
        size_bytes, rcu, item_bytes, round_trip, in_flight, call_seconds=call_seconds, segments=segments
    )


def scan_seconds(size_bytes: int, rcu: int, *, item_bytes: float = BYTES_PER_RCU_SECOND) -> float:
    """The wizard's and the re-sync page's estimate: the pacing above plus the start."""
    return START_SECONDS + scan_pacing_seconds(size_bytes, rcu, item_bytes=item_bytes)


def rcu_bounds(summary: TableSummary) -> tuple[int, int]:
    if summary.on_demand:
        return 1, summary.on_demand_max_rcu or ON_DEMAND_TABLE_QUOTA
    return 1, max(summary.provisioned_rcu, 1)


def default_rcu(summary: TableSummary) -> int:
    """Half a provisioned table's capacity (Rockset's advice), or a moderate on-demand budget."""
    if summary.on_demand:
        return min(ON_DEMAND_DEFAULT_RCU, rcu_bounds(summary)[1])
    return max(1, summary.provisioned_rcu // 2)


def mean_item_bytes(summary: TableSummary) -> float:
    """DescribeTable's mean item size (refreshed every six hours), or a 4 KB item when it has none."""
    if summary.size_bytes and summary.item_count:
        return summary.size_bytes / summary.item_count
    return BYTES_PER_RCU_SECOND


def recommend(summary: TableSummary, has_bucket: bool) -> Recommendation:
    seconds = scan_seconds(summary.size_bytes, default_rcu(summary), item_bytes=mean_item_bytes(summary))
    if not has_bucket:
        return Recommendation("scan", "The integration has no S3 bucket, so Export isn't available.")
    if summary.size_bytes >= SCAN_SIZE_LIMIT:
        return Recommendation(
            "export", "The table is 5 GB or more: an export uses no read capacity and has no size limit."
        )
    if seconds < EXPORT_SETUP_SECONDS:
        return Recommendation(
            "scan",
            f"A scan at {default_rcu(summary):,} RCU should take {duration(seconds)}; an export first waits "
            f"{health.export_wait()} for DynamoDB to write its files.",
        )
    return Recommendation(
        "export",
        f"A scan at {default_rcu(summary):,} RCU would take {duration(seconds)}; an export is faster "
        "and leaves the table's read capacity to your application.",
    )


def duration(seconds: float) -> str:
    if seconds < 60:
        return "under a minute"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} minute{'s' if minutes != 1 else ''}"
    hours = seconds / 3600
    return f"about {hours:.1f} hours" if hours < 48 else f"about {hours / 24:.1f} days"


def estimated_size_bytes(summary: TableSummary, sample: list[dict]) -> tuple[int, bool]:
    """The table's size, and whether it is estimated: DynamoDB reports 0 until its six-hourly refresh."""
    if summary.size_bytes or not summary.item_count or not sample:
        return summary.size_bytes, False
    average = sum(item_size(item) for item in sample) / len(sample)
    return int(average * summary.item_count), True
