"""The Scan's read-capacity budget, shared by every segment on every worker.

A ledger of what each page reserved and then really spent (from ReturnConsumedCapacity). A page may
start only when what the last second holds plus its reservation fits the budget. A reservation counts
from the moment it is made for as long as its call is unanswered (DynamoDB may charge it at any moment
in between, however slow the call), and its real cost counts for a second after the answer: so no
one-second window of real charges ever holds more than the budget, whatever the number of workers and
however slow the calls (invariant 4).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Q, Sum

from collections_app.models import Source
from ingest import clock, timing
from ingest.models import CapacitySpend

WINDOW = timedelta(seconds=1)


def reserve(source_id: int, budget: float, units: float, *, deadline: float | None = None) -> int | None:
    """Wait until `units` fit the budget; return the ledger row to settle, or None when `deadline`
    (clock.monotonic) passes first."""
    while True:
        with transaction.atomic():
            # FOR NO KEY UPDATE: one reservation at a time, and none during a re-sync (FOR UPDATE), but
            # not waiting for the segments' commits in flight (FOR KEY SHARE, see lifecycle).
            Source.objects.select_for_update(no_key=True).filter(pk=source_id).values_list("pk", flat=True).get()
            now = clock.now()
            # A reservation can't outlive the longest call: one left by a killed worker stops counting.
            longest = timedelta(seconds=timing.longest_call())
            CapacitySpend.objects.filter(source_id=source_id, at__lt=now - 10 * WINDOW - longest).delete()
            counting = Q(at__gt=now - WINDOW) | Q(in_flight=True, at__gt=now - longest)
            window = CapacitySpend.objects.filter(counting, source_id=source_id)
            spent = window.aggregate(total=Sum("units"))["total"] or 0.0
            # A single page dearer than the whole budget may run alone, or the scan could never move.
            if spent + units <= budget or spent == 0:
                return CapacitySpend.objects.create(source_id=source_id, at=now, units=units, in_flight=True).pk
            settled = window.filter(in_flight=False).order_by("at").values_list("at", flat=True).first()
        wait = max(0.01, ((settled + WINDOW) - clock.now()).total_seconds()) if settled else 0.05
        if deadline is not None and clock.monotonic() + wait > deadline:
            return None
        clock.sleep(wait)


def settle(spend_id: int, units: float) -> None:
    """Replace the reservation by what DynamoDB says the page cost (0 when the call failed), dated when
    the answer came: it was charged at some moment before, so it keeps counting for a second from now."""
    CapacitySpend.objects.filter(pk=spend_id).update(units=units, at=clock.now(), in_flight=False)
