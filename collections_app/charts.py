"""The collection page's 24-hour charts (lag, records a minute) as SVG polylines computed here, so the
page needs no chart library, no script and no build step: the template draws the points it is given."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest import samples, timing

WIDTH, HEIGHT = 600, 100  # the SVG's viewBox; it stretches to the card's width
DAY = timedelta(hours=24)


@dataclass(frozen=True)
class Chart:
    title: str
    lines: list[str]  # polyline `points`, one per unbroken run of minutes
    peak: str  # the top of the scale, for people
    latest: str
    summary: str  # the chart in words (aria-label)


def _x(minute: datetime, now: datetime) -> float:
    return round(WIDTH * (1 - (now - minute) / DAY), 1)


def _lines(points: list[tuple[datetime, float | None]], now: datetime, peak: float) -> list[str]:
    """Runs of consecutive minutes with a value; a missing minute (nothing live, paused before sync) breaks
    the line rather than drawing across it."""
    lines: list[list[str]] = []
    previous: datetime | None = None
    for minute, value in points:
        if value is None:
            previous = None
            continue
        if previous is None or minute - previous > timedelta(minutes=1):
            lines.append([])
        y = round(HEIGHT * (1 - value / peak), 1) if peak else HEIGHT
        lines[-1].append(f"{_x(minute, now)},{y}")
        previous = minute
    return [" ".join(line) for line in lines if len(line) > 1]


def for_source(source_id: int, now: datetime) -> list[Chart]:
    rows = samples.last_day(source_id, now)
    lag = [(row.minute, row.behind_seconds) for row in rows]
    per_minute: list[tuple[datetime, float | None]] = []
    for before, after in zip(rows, rows[1:], strict=False):
        if after.minute - before.minute == timedelta(minutes=1):
            # A re-sync starts the running total again: that minute's count is the new total.
            grown = after.records_applied - before.records_applied
            per_minute.append((after.minute, float(grown if grown >= 0 else after.records_applied)))
    lag_values = [v for _, v in lag if v is not None]
    rate_values = [v for _, v in per_minute if v is not None]
    lag_peak = max(lag_values, default=0.0)
    rate_peak = max(rate_values, default=0.0)
    return [
        Chart(
            "Behind the table",
            _lines(lag, now, lag_peak),
            timing.duration(lag_peak),
            timing.duration(lag_values[-1]) if lag_values else "—",
            f"Lag over the last 24 hours: at most {timing.duration(lag_peak)}.",
        ),
        Chart(
            "Records a minute",
            _lines(per_minute, now, rate_peak),
            f"{rate_peak:,.0f}",
            f"{rate_values[-1]:,.0f}" if rate_values else "—",
            f"Stream records applied a minute over the last 24 hours: at most {rate_peak:,.0f}.",
        ),
    ]
