"""A per-key request rate for the API, so one script (or a leaked key) can't crowd out everyone else.

Counted in Django's cache per key and per clock minute (a fixed window): cheap, one increment a request,
shared by every web process through the cache (console/settings.py says which). Past the limit the API
answers 429 RATELIMITEXCEEDED, as Rockset did, with Retry-After set to the window's end.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from api.auth import Caller
from api.errors import ApiError

WINDOW_SECONDS = 60


class RateLimited(ApiError):
    """RATELIMITEXCEEDED, with the seconds until the next window for the Retry-After header."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__("RATELIMITEXCEEDED", message)
        self.retry_after = retry_after


def check_rate(caller: Caller) -> None:
    """Count this request against the caller's key; raise RateLimited past MILLRACE_API_RATE_PER_MINUTE."""
    limit = settings.MILLRACE_API_RATE_PER_MINUTE
    if limit <= 0:
        return
    now = timezone.now().timestamp()
    window = int(now // WINDOW_SECONDS)
    counter = f"millrace:api-rate:{caller.key.pk}:{window}"
    cache.add(counter, 0, timeout=2 * WINDOW_SECONDS)
    try:
        count = cache.incr(counter)
    except ValueError:  # culled between add and incr
        cache.set(counter, 1, timeout=2 * WINDOW_SECONDS)
        count = 1
    if count > limit:
        retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
        raise RateLimited(
            f"Rate limit exceeded: this API key may make {limit} requests a minute on this Millrace "
            f"installation. Try again in {retry_after} s, or ask its operator to raise "
            "MILLRACE_API_RATE_PER_MINUTE.",
            retry_after,
        )
