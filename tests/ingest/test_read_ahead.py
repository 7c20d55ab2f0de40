"""The Scan reads one page ahead: the next page's call goes out (reserved in the budget first) before this
page is committed. A crash, a pause or a failed call between the two loses nothing and writes nothing twice,
and the budget still holds every call."""

from __future__ import annotations

import pytest

from collections_app.models import Collection, Source
from ingest import clock, initial_load, lifecycle, scan, writer
from ingest.keys import key_from_json
from ingest.models import CapacitySpend, ScanSegment
from tests.ingest.engine import assert_equal_to_table, create_source, load, make_table

ITEMS = 120


@pytest.fixture
def one_segment(people, integration, aws, monkeypatch):
    """A table read by one segment at 10 RCU: pages of about one RCU, a dozen of them and more."""
    monkeypatch.setattr("ingest.scan.segment_count", lambda source, size, **kwargs: 1)
    make_table(aws.dynamodb, "t", ITEMS)
    source = create_source(people.acme, people.alice, integration, "t", rcu=10)
    return source


def checkpoint(source: Source) -> dict | None:
    return key_from_json(ScanSegment.objects.get(source=source).last_evaluated_key)


def test_a_crash_after_the_next_page_was_read_ahead_loses_nothing(one_segment, aws, faults, monkeypatch):
    source = one_segment
    calls = faults.spy("dynamodb", "Scan")
    real_apply, calls_at_apply = writer.apply, []

    def crash_on_third_page(*args, **kwargs):
        calls_at_apply.append(len(calls))
        if len(calls_at_apply) == 3:
            raise RuntimeError("worker crashed")  # the fourth page's call has been answered by now
        return real_apply(*args, **kwargs)

    monkeypatch.setattr("ingest.writer.apply", crash_on_third_page)
    initial_load.start(source.pk)
    segment = ScanSegment.objects.get(source=source)
    with pytest.raises(RuntimeError):
        scan.run_segment(segment.pk, slice_seconds=60)
    assert calls_at_apply == [2, 3, 4]  # each page written while the next one's call was out
    segment.refresh_from_db()
    assert segment.pages == 2 and checkpoint(source) == calls[2]["ExclusiveStartKey"]
    assert Collection.objects.get(pk=source.collection_id).doc_count == segment.items_loaded
    assert not CapacitySpend.objects.filter(source=source, in_flight=True).exists()  # the page ahead settled
    monkeypatch.setattr("ingest.writer.apply", real_apply)
    finishes_whole(source, aws)


def test_a_pause_between_pages_stops_the_segment_without_writing_the_page_read_ahead(
    one_segment, aws, faults, no_queue
):
    source = one_segment
    calls: list[dict] = []

    def pause_at_the_fourth_call(params):
        calls.append(params)
        if len(calls) == 4:  # pages 1 and 2 committed, 3 answered, 4 being read ahead
            lifecycle.pause(source.pk)
        return False

    faults.add("dynamodb", "Scan", "Unused", when=pause_at_the_fourth_call)
    initial_load.start(source.pk)
    segment = ScanSegment.objects.get(source=source)
    assert scan.run_segment(segment.pk, slice_seconds=60) == "lost"
    assert len(calls) == 4  # nothing read after the pause was seen
    segment.refresh_from_db()
    assert segment.pages == 2 and checkpoint(source) == calls[2]["ExclusiveStartKey"]
    assert Collection.objects.get(pk=source.collection_id).doc_count == segment.items_loaded < ITEMS
    assert not CapacitySpend.objects.filter(source=source, in_flight=True).exists()
    assert scan.run_segment(segment.pk) == "stopped"
    faults.faults.clear()
    lifecycle.resume(source.pk)
    finishes_whole(source, aws)


def finishes_whole(source, aws) -> None:
    """The rest of the load: the collection is the table, every item counted once (pages re-read after a
    crash or a refusal too)."""
    load(source)
    source.refresh_from_db()
    assert source.items_loaded == ITEMS
    assert_equal_to_table(source, aws.dynamodb)


def test_a_failed_call_read_ahead_after_the_page_was_written_loses_nothing(one_segment, aws, faults):
    source = one_segment
    calls = faults.spy("dynamodb", "Scan")
    faults.add("dynamodb", "Scan", "ProvisionedThroughputExceededException", when=lambda params: len(calls) == 4)
    initial_load.start(source.pk)
    segment = ScanSegment.objects.get(source=source)
    assert scan.run_segment(segment.pk, slice_seconds=60) == "backoff"
    segment.refresh_from_db()
    # The third page was committed after the fourth's call failed; the fourth is read again from there.
    assert segment.pages == 3 and checkpoint(source) == calls[3]["ExclusiveStartKey"]
    assert "ProvisionedThroughputExceededException" in segment.problem
    faults.faults.clear()
    finishes_whole(source, aws)


def test_the_budget_holds_every_call_read_ahead(one_segment, aws, faults):
    source = one_segment
    spent: list[tuple[float, float]] = []
    faults.charge_like_dynamodb(spent)
    seen: list[tuple[int, int, int]] = []  # at each call: (calls so far, pages committed, reservations open)

    def slow_call(params):
        committed = ScanSegment.objects.get(source=source).pages
        open_reservations = CapacitySpend.objects.filter(source=source, in_flight=True).count()
        seen.append((len(seen) + 1, committed, open_reservations))
        clock.sleep(0.3)
        return False

    faults.add("dynamodb", "Scan", "Unused", when=slow_call)
    load(source)
    faults.faults.clear()
    assert len(seen) > 10
    # Every call reserved before it went out, the one before settled; never more than one page ahead of
    # the last one committed (this call's page, and the one answered and being written).
    assert all(reservations == 1 for _, _, reservations in seen), seen
    assert all(calls - committed <= 2 for calls, committed, _ in seen), seen
    worst = max(sum(u for t, u in spent if start <= t < start + 1.0) for start, _ in spent)
    assert worst <= 10, f"{worst} RCU spent within one second, budget 10"
    assert sum(u for _, u in spent) == pytest.approx(Source.objects.get(pk=source.pk).rcu_consumed)
    assert_equal_to_table(source, aws.dynamodb)
