"""Read-capacity arithmetic the wizard explains: how long a Table Scan takes, and which method to pick.

A strongly consistent read of up to 4 KB costs one RCU, so a Scan reading at R RCU moves about
4 KB × R per second. Export to S3 uses no read capacity but takes five minutes or more to set up, whatever the size.
"""

from __future__ import annotations

from dataclasses import dataclass

from collections_app.tables import TableSummary
from ingest import scan
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


# The engine's pacing (ingest.scan.page_plan): a page's read units stay reserved from its call's start until
# a second after its answer, so a Scan moves at most rcu ÷ (1 + d) units a second, d being a call's duration,
# never taken as less than 1/PAGES_PER_SECOND. Before the first page come the queueing of the load's task,
# DescribeTable and the stream's start position: about a supervisor tick or two.
CALL_SECONDS = 1 / scan.PAGES_PER_SECOND
START_SECONDS = 10.0


def scan_pacing_seconds(size_bytes: int, rcu: int) -> float:
    """How long the engine's budget lets a Scan of this many bytes take at this RCU, once it runs."""
    return size_bytes * (1 + CALL_SECONDS) / (BYTES_PER_RCU_SECOND * max(rcu, 1))


def scan_seconds(size_bytes: int, rcu: int) -> float:
    """The wizard's and the re-sync page's estimate: the pacing above plus the start."""
    return START_SECONDS + scan_pacing_seconds(size_bytes, rcu)


def rcu_bounds(summary: TableSummary) -> tuple[int, int]:
    if summary.on_demand:
        return 1, summary.on_demand_max_rcu or ON_DEMAND_TABLE_QUOTA
    return 1, max(summary.provisioned_rcu, 1)


def default_rcu(summary: TableSummary) -> int:
    """Half a provisioned table's capacity (Rockset's advice), or a moderate on-demand budget."""
    if summary.on_demand:
        return min(ON_DEMAND_DEFAULT_RCU, rcu_bounds(summary)[1])
    return max(1, summary.provisioned_rcu // 2)


def recommend(summary: TableSummary, has_bucket: bool) -> Recommendation:
    seconds = scan_seconds(summary.size_bytes, default_rcu(summary))
    if not has_bucket:
        return Recommendation("scan", "The integration has no S3 bucket, so Export isn't available.")
    if summary.size_bytes >= SCAN_SIZE_LIMIT:
        return Recommendation(
            "export", "The table is 5 GB or more: an export uses no read capacity and has no size limit."
        )
    if seconds < EXPORT_SETUP_SECONDS:
        return Recommendation(
            "scan",
            f"A scan at {default_rcu(summary):,} RCU should take {duration(seconds)}, "
            "less than an export's five minutes or more of set-up.",
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
