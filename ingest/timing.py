"""How long things may take, written once: leases, the tick, time slices, AWS timeouts, backoff, and the
bounds after which a unit of work that makes no progress is shown as stalled, then stopped with an error.

The relations between them are what keeps invariant 8 (liveness): `check()` states them and runs at
start-up (a Django system check), so a setting that would let a lease lapse under a working worker, or
a stall go unreported, is refused before any work starts.

    heartbeat  = lease / 4           a held unit's lease is renewed this often, also during a slow call,
                                     a backoff or a budget wait (clock.every); so a lease only lapses
                                     when its worker died or was stopped
    call       ≤ attempts × (connect + read) + botocore's backoff: the longest one AWS call can take
    hold limit = slice + call + lease: the heartbeat stops renewing after this, so even a wedged worker's
                                     unit is taken over
    stalled    = STALL_SECONDS without progress (or an AWS call unanswered that long): shown on the
                                     page, in the API's current_status and the admin
    error      = ERROR_SECONDS stalled: the source stops with the reason, is emailed, and is retried
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
CALL_ATTEMPTS = 3  # botocore's own retries (standard mode) of a throttled or failed call
BOTOCORE_BACKOFF = 20.0  # standard mode waits at most 20 s between attempts
SCAN_SLICE = 30.0
STREAM_SLICE = 20.0
BACKOFF_CAP = 20.0  # our own backoff after botocore gave up: the next try is scheduled, not slept
STALL_SECONDS = 60.0
CAUGHT_UP_SECONDS = 15.0  # "caught up" only if every open shard was read to its tip this recently
ERROR_SECONDS = 15 * 60.0
DISCOVERY_SECONDS = 60.0  # each stream's shards listed again at most this often (stream.discovery_interval)
DISCOVERY_RETRY_SECONDS = 10.0  # ... and a listing that failed, this soon


def lease() -> float:
    return float(settings.MILLRACE_LEASE_SECONDS)


def tick() -> float:
    return float(settings.MILLRACE_TICK_SECONDS)


def heartbeat() -> float:
    return lease() / 4


def longest_call() -> float:
    return CALL_ATTEMPTS * (CONNECT_TIMEOUT + READ_TIMEOUT) + (CALL_ATTEMPTS - 1) * BOTOCORE_BACKOFF


def hold_limit() -> float:
    return max(SCAN_SLICE, STREAM_SLICE) + longest_call() + lease()


def stall_after() -> timedelta:
    return timedelta(seconds=STALL_SECONDS)


def check() -> list[str]:
    """What is wrong with the configured timings, in words; empty when they fit together."""
    problems = []
    if tick() >= lease():
        problems.append(
            f"MILLRACE_TICK_SECONDS ({tick():g}) must be shorter than MILLRACE_LEASE_SECONDS ({lease():g}): the tick "
            "hands out work whose lease lapsed."
        )
    if lease() < 2:
        problems.append(f"MILLRACE_LEASE_SECONDS ({lease():g}) must be at least 2: the heartbeat renews it at ¼.")
    if lease() + tick() >= STALL_SECONDS:
        problems.append(
            f"A unit is called stalled after {STALL_SECONDS:g} s, which must exceed a lease plus a tick "
            f"({lease() + tick():g} s): work taken over after a lapsed lease is not a stall."
        )
    if BACKOFF_CAP >= STALL_SECONDS:
        problems.append("The longest backoff must be shorter than the stall bound.")
    if hold_limit() >= ERROR_SECONDS:
        problems.append("A unit may be held longer than the error bound.")
    return problems


def duration(seconds: float) -> str:
    """'45 s', '3 min 5 s', '2 h 4 min': for people."""
    seconds = int(max(0, seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
