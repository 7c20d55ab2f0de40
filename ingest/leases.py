"""Leases: one worker at a time per unit of work (scan segment, stream shard), across all machines."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import Model, Q
from django.utils import timezone


def lease_seconds() -> int:
    """How long a claim holds without renewal (MILLRACE_LEASE_SECONDS): a worker renews it with every
    commit, so only a dead or stuck worker's lease runs out."""
    return settings.MILLRACE_LEASE_SECONDS


def new_owner() -> str:
    """A name unique to this task run, readable in the admin: host, process, and a random tail."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(model: type[Model], pk: int, owner: str) -> bool:
    """Take (or renew) the lease when it is free, lapsed or already ours; True when we hold it."""
    now = timezone.now()
    free = Q(leased_by="") | Q(lease_expires_at__lt=now) | Q(leased_by=owner)
    taken = model.objects.filter(free, pk=pk, done=False).update(
        leased_by=owner, lease_expires_at=now + timedelta(seconds=lease_seconds())
    )
    return taken == 1


def holds(model: type[Model], pk: int, owner: str) -> bool:
    """Checked under the row lock right before committing work, so a lapsed lease never writes."""
    row = model.objects.select_for_update().filter(pk=pk).values("leased_by", "lease_expires_at").first()
    return bool(row and row["leased_by"] == owner and row["lease_expires_at"] > timezone.now())


def release(model: type[Model], pk: int, owner: str) -> None:
    model.objects.filter(pk=pk, leased_by=owner).update(leased_by="", lease_expires_at=None)


def needing_dispatch(model: type[Model]) -> Q:
    """Work no one holds, and no task was queued for recently (a third of a lease more than the lease
    itself: a queued task may wait its turn): the supervisor queues a task for it."""
    now = timezone.now()
    redispatch_after = lease_seconds() + max(1, lease_seconds() // 3)
    unheld = Q(leased_by="") | Q(lease_expires_at__lt=now)
    not_queued = Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=now - timedelta(seconds=redispatch_after))
    return Q(done=False) & unheld & not_queued
