"""The Scan's read-capacity budget, shared by every segment on every worker.

A ledger of what each page reserved and then really spent (from ReturnConsumedCapacity). A page may
start only when the spend of the last second plus its reservation fits the budget, so no one-second
window ever holds more than the budget, whatever the number of workers (invariant 4).
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from collections_app.models import Source
from ingest.models import CapacitySpend

WINDOW = timedelta(seconds=1)


def reserve(source_id: int, budget: float, units: float, *, deadline: float | None = None) -> int | None:
    """Block until `units` fit the last second's budget; return the ledger row to settle, or None
    when `deadline` (time.monotonic) passes first."""
    while True:
        with transaction.atomic():
            Source.objects.select_for_update().filter(pk=source_id).values_list("pk", flat=True).get()
            now = timezone.now()
            CapacitySpend.objects.filter(source_id=source_id, at__lt=now - 10 * WINDOW).delete()
            window = CapacitySpend.objects.filter(source_id=source_id, at__gt=now - WINDOW)
            spent = window.aggregate(total=Sum("units"))["total"] or 0.0
            # A single page dearer than the whole budget may run alone, or the scan could never move.
            if spent + units <= budget or spent == 0:
                return CapacitySpend.objects.create(source_id=source_id, at=now, units=units).pk
            oldest = window.order_by("at").values_list("at", flat=True).first()
        wait = max(0.01, ((oldest + WINDOW) - timezone.now()).total_seconds()) if oldest else 0.05
        if deadline is not None and time.monotonic() + wait > deadline:
            return None
        time.sleep(wait)


def settle(spend_id: int, units: float) -> None:
    """Replace the reservation by what DynamoDB says the page cost (0 when the call failed), dated when
    the answer came: DynamoDB charged it somewhere between the reservation and now, so the spend keeps
    the next pages waiting until a second after the latest moment it can have happened."""
    CapacitySpend.objects.filter(pk=spend_id).update(units=units, at=timezone.now())
