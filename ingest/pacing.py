"""How fast a Scan can read within its read-capacity budget, and how to get there: each page's Limit and how
many segments must be in flight, from the budget, the items' mean size and the measured round trip. The
engine plans every page with it (ingest.scan) and the wizard's estimate uses the same figures
(collections_app.capacity), so the estimate is what the engine does.

The budget's ledger (ingest.budget) holds a page's reservation from before its call until the answer, then
its real cost for one second more: a page of c RCU whose call takes d seconds holds c for 1 + d seconds.
Since the ledger never holds more than the budget B, no arrangement of pages reads faster than
B / (1 + d) on average: the ceiling. (The ledger is the worst case of DynamoDB charging a page at any
moment of its call: each call fills every one-second window it touches, so no accounting that never lets a
window exceed B, without knowing when in the call the charge lands, allows more.) Two things bring the rate
up to that ceiling:

- pages small next to the budget (`PAGES_PER_WINDOW` of them fill it), so that one fits as soon as
  another leaves the window, and a reservation's margin is a small sum;
- enough segments in flight: each moves one page per round trip (its call plus converting and writing the
  page), so together they must offer pages faster than the budget frees room, or the round trip, not the
  budget, sets the pace. With fewer segments than that, each page carries more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BYTES_PER_RCU = 4096  # a strongly consistent read of up to 4 KB costs one RCU
FULL_PAGE_RCU = 256  # DynamoDB stops a page at 1 MB read: 1 MB ÷ 4 KB
PAGES_PER_WINDOW = 10  # a page is a tenth of the budget: little is left unused while the next one waits
HEADROOM = 1.5  # half again as many segments as the ceiling needs: calls vary, and the budget must set the pace
MAX_SEGMENTS = 64
# The round trip (a Scan page's call plus its conversion and write) the segment count is planned for, unless
# the one measured before the load is slower: calls of up to 1.5 s on a slow network. Slower ones still are
# met by larger pages (`plan_page`); more segments than needed only wait on the budget.
PLANNING_ROUND_TRIP = 1.5
SEGMENT_BYTES = 256 * 1024**2  # a large table gets a segment per 256 MB, so that many workers share it
MARGIN = 1.25  # reserve a quarter more than the item sizes seen suggest, until pages show their spread


def ceiling(budget: float, call_seconds: float) -> float:
    """The most RCU a second the ledger lets a Scan read on average when its calls take `call_seconds`."""
    return budget / (1 + max(0.0, call_seconds))


def page_units(budget: float, item_bytes: float) -> float:
    """What a page should cost when enough segments are in flight: a tenth of the budget, never less than
    one item (nor one RCU), never more than a full 1 MB page."""
    one_item = max(1.0, item_bytes / BYTES_PER_RCU)
    return min(float(FULL_PAGE_RCU), max(budget / PAGES_PER_WINDOW, one_item))


def segments_needed(budget: float, item_bytes: float, call_seconds: float, round_trip: float) -> int:
    """How many segments must be in flight for the budget, not the round trip, to set the pace: each
    moves a page of `page_units` a round trip; together they offer `HEADROOM` × the ceiling. At most one
    a RCU (a page costs at least one) and `MAX_SEGMENTS`."""
    offered = HEADROOM * ceiling(budget, call_seconds) * max(round_trip, call_seconds)
    needed = math.ceil(offered / page_units(budget, item_bytes))
    return max(1, min(needed, MAX_SEGMENTS, max(1, int(budget))))


def segment_total(budget: float, size_bytes: float, item_bytes: float, round_trip: float = 0.0) -> int:
    """How many segments a Scan is cut into: about one per 256 MB (so workers share a large table), and at
    least as many as must be in flight for the budget to set the pace at `round_trip`, taken as at least
    `PLANNING_ROUND_TRIP` (a slow network is met by more segments at once; more than needed only wait on
    the budget). Never more than the budget: each page costs at least one RCU."""
    trip = max(round_trip, PLANNING_ROUND_TRIP)
    needed = segments_needed(budget, item_bytes, trip, trip)
    total = max(needed, math.ceil(size_bytes / SEGMENT_BYTES))
    if size_bytes:  # no more segments than the table has pages (DynamoDB reports 0 for a new table)
        total = min(total, math.ceil(size_bytes / (page_units(budget, item_bytes) * BYTES_PER_RCU)))
    return max(1, min(MAX_SEGMENTS, int(budget), total))


@dataclass(frozen=True)
class Page:
    limit: int | None  # the Scan's Limit (None: DynamoDB's own 1 MB cap)
    reserve: float  # RCU to reserve before the call


def plan_page(
    budget: float,
    item_bytes: float,
    *,
    call_seconds: float = 0.0,
    round_trip: float = 0.0,
    in_flight: int = 1,
    margin: float = MARGIN,
) -> Page:
    """The next page of a segment, `in_flight` segments reading at once (this one included). With too few
    of them for the round trip, pages grow until those few move the ceiling again: no more, since a
    segment's page must fit in the ledger beside the pages it answered within the last second (a page any
    larger waits for room and the segment loses a round trip)."""
    units = page_units(budget, item_bytes)
    fill = ceiling(budget, call_seconds) * max(round_trip, call_seconds) / max(1, in_flight)
    # A page is charged in whole 4 KB units: plan it within a whole number of them (rounded down: a page
    # grown to fill the ceiling must still fit beside the last one), with the margin for items larger than
    # those seen so far, or a page of 2.1 RCU of items costs 3.
    whole = max(1, int(max(units, fill)))
    if min(whole, budget) >= FULL_PAGE_RCU:
        return Page(None, float(min(budget, FULL_PAGE_RCU)) if budget >= 1 else 1.0)
    whole = int(min(whole, max(1, budget), FULL_PAGE_RCU))
    # A page of a read unit or three keeps an item's worth of slack besides: a few items vary the most.
    item_bytes = max(1.0, item_bytes)
    slack = item_bytes if whole <= 3 else 0.0
    limit = max(1, int((whole * BYTES_PER_RCU - slack) / (item_bytes * margin)))
    # What the page costs if its items are of the size seen so far, plus the margin; rounded, not rounded up,
    # so that a page of one 3.5 KB item reserves the 1 RCU it costs, not 2.
    expected = limit * item_bytes / BYTES_PER_RCU
    reserve = max(math.ceil(expected), round(expected * margin), 1)
    return Page(limit, float(min(max(budget, 1), reserve)))


def page_cost(page: Page, item_bytes: float) -> tuple[float, float]:
    """(RCU, bytes) a page of items of `item_bytes` reads: DynamoDB rounds the page up to 4 KB."""
    if page.limit is None:
        return float(FULL_PAGE_RCU), float(FULL_PAGE_RCU * BYTES_PER_RCU)
    read = page.limit * item_bytes
    return float(max(1, math.ceil(read / BYTES_PER_RCU))), read


def scan_rate(
    budget: float, item_bytes: float, round_trip: float, in_flight: int, *, call_seconds: float | None = None
) -> float:
    """RCU a second a Scan reads on average with `in_flight` segments, each moving a page per `round_trip`
    (calls of `call_seconds`, the whole round trip when not given): the ceiling, or what those segments
    move when they are too few to reach it even with full pages."""
    call = round_trip if call_seconds is None else call_seconds
    page = plan_page(budget, item_bytes, call_seconds=call, round_trip=round_trip, in_flight=in_flight)
    units, _ = page_cost(page, item_bytes)
    moved = in_flight * units / max(round_trip, 1e-3)
    return min(ceiling(budget, call), moved)


def scan_seconds(
    size_bytes: float,
    budget: float,
    item_bytes: float,
    round_trip: float,
    in_flight: int,
    *,
    call_seconds: float | None = None,
    segments: int | None = None,
) -> float:
    """How long a Scan of `size_bytes` reads, once its segments run: its pages' read units (each rounded up to
    4 KB) at `scan_rate`, or, if longer, its calls a round trip each, `in_flight` at a time: every page, and
    each of the `segments`' last, partial one."""
    budget, item_bytes, in_flight = max(budget, 1), max(1.0, item_bytes), max(1, in_flight)
    call = round_trip if call_seconds is None else call_seconds
    units, read = page_cost(
        plan_page(budget, item_bytes, call_seconds=call, round_trip=round_trip, in_flight=in_flight), item_bytes
    )
    rate = scan_rate(budget, item_bytes, round_trip, in_flight, call_seconds=call_seconds)
    calls = size_bytes / read + (segments or in_flight)
    return max(size_bytes / read * units / rate, calls * round_trip / in_flight)


class Measured:
    """A segment's running figures for `plan_page`: the items' mean size, its calls' duration, its round
    trip (call, conversion and write: from one page's reservation to the next one's, less the budget's
    waits), and the margin its pages' spread calls for."""

    def __init__(self, item_bytes: float = float(BYTES_PER_RCU)) -> None:
        self.item_bytes = item_bytes
        self.call_seconds = 0.0
        self.round_trip = 0.0
        self.margin = MARGIN
        self._ratios: list[float] = []

    def call(self, seconds: float) -> None:
        self.call_seconds = _smooth(self.call_seconds, seconds)

    def trip(self, seconds: float) -> None:
        self.round_trip = _smooth(self.round_trip, seconds)

    def page(self, sizes: list[int], limit: int | None) -> None:
        """A page read: its items' sizes."""
        if not sizes:
            return
        read, seen = sum(sizes), sum(sizes) / len(sizes)
        if limit is not None and len(sizes) == limit:  # a full page: what a planned page reads
            self._ratios = [*self._ratios[-9:], read / (limit * self.item_bytes)]
            if len(self._ratios) >= 3:
                # Pages as much above the estimate as the recent ones were, and 10 % more: a tight
                # reservation wastes less of the budget while a call is in flight, and a table whose items
                # vary keeps the full one.
                self.margin = min(MARGIN, max(1.1, max(self._ratios) * 1.1))
        # Up at once, down by a quarter of the difference a page: a page of small items says little about
        # the next ones.
        self.item_bytes = max(seen, 0.75 * self.item_bytes + 0.25 * seen)


def _smooth(previous: float, value: float) -> float:
    return value if not previous else 0.7 * previous + 0.3 * value
