"""The pacing model (ingest.pacing) on its own: page sizes and segments from the budget, the items' size and
the round trip, and a simulation of segments sharing the budget's ledger on virtual time (each page holds
its reservation while its call is in flight and its cost for a second after), stopped after N pages."""

from __future__ import annotations

import heapq

import pytest

from ingest import pacing

ITEM = 3500  # bytes: one item costs one RCU read strongly consistent


def test_a_page_is_a_tenth_of_the_budget_in_whole_read_units():
    page = pacing.plan_page(50, ITEM, margin=1.0)
    assert page.reserve == 5 and page.limit == 5  # 5 items of 3.5 KB: 17.5 KB, charged as 5 RCU


def test_a_page_is_never_less_than_one_item_nor_more_than_the_budget_or_a_full_page():
    assert pacing.plan_page(3, 10_000).limit == 1
    assert pacing.plan_page(3, 10_000).reserve == 3  # a 10 KB item costs 3 RCU
    assert pacing.plan_page(40_000, ITEM) == pacing.Page(None, 256)  # DynamoDB's 1 MB page


def test_fewer_segments_in_flight_than_the_round_trip_needs_read_larger_pages():
    alone = pacing.plan_page(50, ITEM, call_seconds=1.0, round_trip=1.0, in_flight=1, margin=1.0)
    enough = pacing.plan_page(50, ITEM, call_seconds=1.0, round_trip=1.0, in_flight=8, margin=1.0)
    # Alone, it must move the ceiling (50 ÷ 2 = 25 RCU a second) a round trip at a time.
    assert alone.reserve == 25 and enough.reserve == 5


def test_slower_calls_need_more_segments_in_flight():
    counts = [pacing.segments_needed(50, ITEM, d, d) for d in (0.05, 0.3, 1.0, 1.5)]
    assert counts == sorted(counts) and counts[0] == 1 and counts[-1] > 5


def test_a_table_gets_no_more_segments_than_pages_nor_than_its_budget():
    assert pacing.segment_total(500, 30 * 1024, 1024) == 1  # 30 KB: a single page of 50 RCU
    assert pacing.segment_total(3, 10**9, ITEM) == 3
    assert pacing.segment_total(500, 100 * 1024**3, ITEM) == pacing.MAX_SEGMENTS


def simulate(budget: float, latency: float, segments: int, pages: int) -> tuple[float, float]:
    """`segments` segments reading pages of items of ITEM bytes planned by `plan_page`, each call taking
    `latency`, under the ledger's rule; stops after `pages` pages. Returns (mean RCU a second, the highest
    worst-case one-second window), both as fractions of the budget."""
    ledger: list[tuple[float, float, float]] = []  # (reserved at, answered at, units): held until answer + 1
    calls: list[tuple[float, float, float]] = []
    ready = [(0.0, n) for n in range(segments)]
    while len(calls) < pages:
        now, segment = heapq.heappop(ready)
        page = pacing.plan_page(budget, ITEM, call_seconds=latency, round_trip=latency, in_flight=segments)
        held = sum(u for start, end, u in ledger if start <= now < end + 1)
        if held + page.reserve > budget:  # wait for the next page to leave the ledger
            heapq.heappush(ready, (min(end + 1 for start, end, _ in ledger if end + 1 > now), segment))
            continue
        units, _ = pacing.page_cost(page, ITEM)
        ledger.append((now, now + latency, units))
        calls.append((now, now + latency, units))
        heapq.heappush(ready, (now + latency, segment))
    span = max(end for _, end, _ in calls) - min(start for start, _, _ in calls)
    starts = {end for _, end, _ in calls} | {start - 1 + 1e-9 for start, _, _ in calls}
    worst = max(sum(u for s, e, u in calls if s < t + 1 and e >= t) for t in starts)
    return sum(u for *_, u in calls) / span / budget, worst / budget


@pytest.mark.parametrize("budget", [10, 50, 500])
@pytest.mark.parametrize("latency", [0.02, 0.2, 0.85])
def test_enough_segments_read_near_the_ceiling_and_never_above_the_budget(budget, latency):
    segments = pacing.segments_needed(budget, ITEM, latency, latency)
    mean, worst = simulate(budget, latency, segments, pages=400)
    ceiling = 1 / (1 + latency)
    assert worst <= 1.0
    assert mean >= 0.9 * ceiling, f"{mean:.2f} of the budget, ceiling {ceiling:.2f}"


def test_the_estimate_is_the_size_at_the_rate_the_model_reads():
    # 100 MB of 3.5 KB items at 100 RCU, 0.5 s calls, enough segments: the ceiling, 100 ÷ 1.5 RCU a second;
    # a page of 10 RCU less the margin for larger items (a quarter) holds 9 items, 31.5 KB, charged 8 RCU.
    seconds = pacing.scan_seconds(100 * 1024**2, 100, ITEM, 0.5, 8)
    pages = 100 * 1024**2 / (9 * ITEM)
    assert seconds == pytest.approx(pages * 8 / (100 / 1.5))
