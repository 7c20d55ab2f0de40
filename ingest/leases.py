"""Leases: one worker at a time per unit of work (scan segment, export file, stream shard), across all
machines. A held lease is renewed by a heartbeat (`held`), also while its worker waits on a slow AWS
call, a backoff or the read-capacity budget, so it lapses only when its worker died, was stopped, or has
held it past `timing.hold_limit()`; then the supervisor hands the unit to another worker.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Model, Q

from ingest import clock, timing


def new_owner() -> str:
    """A name unique to this task run, readable in the admin: host, process, and a random tail."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def expiry() -> datetime:
    """A lease taken or renewed now lasts until then."""
    return clock.now() + timedelta(seconds=timing.lease())


def _take(model: type[Model], owner: str, **where: Any) -> int:
    """Take the leases of the units `where` selects that are free, lapsed or already ours: how many."""
    free = Q(leased_by="") | Q(lease_expires_at__lt=clock.now()) | Q(leased_by=owner)
    return model.objects.filter(free, done=False, **where).update(
        leased_by=owner, lease_expires_at=expiry(), waiting_on="", waiting_since=None
    )


def claim(model: type[Model], pk: int, owner: str) -> bool:
    """Take the lease when it is free, lapsed or already ours; True when we hold it."""
    return _take(model, owner, pk=pk) == 1


def renew(model: type[Model], pk: int | list[int], owner: str, **fields: Any) -> bool:
    """Extend leases we still hold (never one that lapsed: another worker may have it, or have had it
    and moved the checkpoint on, so what we hold in memory is stale)."""
    now = clock.now()
    pks = pk if isinstance(pk, list) else [pk]
    return bool(
        model.objects.filter(pk__in=pks, leased_by=owner, lease_expires_at__gte=now).update(
            lease_expires_at=expiry(), **fields
        )
    )


def holds(model: type[Model], pk: int, owner: str, **fence: Any) -> bool:
    """Checked under the row lock right before committing work, so a lapsed lease never writes; `fence`
    (e.g. the checkpoint the work began from) must still match too."""
    row = model.objects.select_for_update().filter(pk=pk, **fence).values("leased_by", "lease_expires_at").first()
    return bool(row and row["leased_by"] == owner and row["lease_expires_at"] > clock.now())


def release(model: type[Model], pk: int | list[int], owner: str) -> None:
    model.objects.filter(pk__in=pk if isinstance(pk, list) else [pk], leased_by=owner).update(
        leased_by="", lease_expires_at=None, waiting_on="", waiting_since=None
    )


class Hold:
    """Units of work this task holds (one, or a batch of quiet shards). `waiting(...)` names what it waits
    on, so that a call AWS takes minutes to answer shows on the page as that, not as silence."""

    def __init__(self, model: type[Model], pk: int | list[int], owner: str) -> None:
        self.model, self.owner = model, owner
        self.pks = pk if isinstance(pk, list) else [pk]
        self.started = clock.monotonic()
        self.activity, self.activity_since = "", None

    @contextlib.contextmanager
    def waiting(self, what: str) -> Iterator[None]:
        self.activity, self.activity_since = what, clock.now()
        try:
            yield
        finally:
            self.activity, self.activity_since = "", None

    def beat(self) -> None:
        """The heartbeat: renew, and record what we are waiting on. Past the hold limit it stops renewing,
        so a worker wedged in a call that never returns can't keep its unit forever."""
        if clock.monotonic() - self.started > timing.hold_limit():
            return
        renew(self.model, self.pks, self.owner, waiting_on=self.activity, waiting_since=self.activity_since)


@contextlib.contextmanager
def _kept(hold: Hold) -> Iterator[Hold]:
    """Renew the hold's leases by heartbeat while the block runs, and release them after."""
    try:
        with clock.every(timing.heartbeat(), hold.beat):
            yield hold
    finally:
        release(hold.model, hold.pks, hold.owner)


@contextlib.contextmanager
def held(model: type[Model], pk: int, owner: str) -> Iterator[Hold | None]:
    """Claim the unit (None when someone else holds it), renew it by heartbeat while the block runs, and
    release it after."""
    if not claim(model, pk, owner):
        yield None
        return
    with _kept(Hold(model, pk, owner)) as hold:
        yield hold


@contextlib.contextmanager
def held_batch(model: type[Model], pks: list[int], owner: str) -> Iterator[Hold]:
    """Claim those of `pks` that are free, in one statement, and hold them as `held` holds one: the
    hold's `pks` are the ones claimed (maybe none)."""
    _take(model, owner, pk__in=pks)
    claimed = list(model.objects.filter(pk__in=pks, leased_by=owner).values_list("pk", flat=True))
    with _kept(Hold(model, claimed, owner)) as hold:
        yield hold


def needing_dispatch(model: type[Model], *, due_by: datetime | None = None) -> Q:
    """Work no one holds, due now (or by `due_by`), and no task queued for it recently (a lease plus a
    third: a queued task may wait its turn): the supervisor queues a task for it."""
    now = clock.now()
    redispatch_after = timing.lease() + max(1.0, timing.lease() / 3)
    unheld = Q(leased_by="") | Q(lease_expires_at__lt=now)
    not_queued = Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=now - timedelta(seconds=redispatch_after))
    due = Q(not_before__isnull=True) | Q(not_before__lte=due_by or now)
    return Q(done=False) & unheld & not_queued & due


def back_off(model: type[Model], pk: int, retries: int, error: Any, action: str) -> float:
    """AWS asked us to slow down (or hiccuped): note it on the unit and set when to try again, doubling
    with each failure in a row up to `timing.BACKOFF_CAP`. The caller returns; nothing sleeps."""
    delay = min(timing.BACKOFF_CAP, 0.2 * 2 ** min(retries + 1, 32)) * random.uniform(0.5, 1.5)  # no overflow
    now = clock.now()
    model.objects.filter(pk=pk).update(
        retries=retries + 1,
        not_before=now + timedelta(seconds=delay),
        problem=f"{action}: {error.code} ({error.message})"[:500],
        problem_at=now,
    )
    return delay
