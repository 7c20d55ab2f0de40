"""What a collection is doing, in one place: its Rockset status, the badge's colour and words, and a sentence.

The page, its polled status block, the collections list, the overview and the API all call `health()`, so
they can't disagree. The colours mean one thing each: green (ok) is live within the lag bound, amber
(warn) is loading or catching up, red (bad) is stopped, stalled or behind the bound, grey (idle) is paused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from collections_app.models import Collection, Source
from ingest import clock, timing
from ingest.alerts import shard_figures
from ingest.lag import Shards

# Beyond this a live collection is "behind": the same bound after which a unit of work is called stalled
# (and the soak test's bound), so one figure decides both.
LAG_BOUND_SECONDS = timing.STALL_SECONDS
# A table quiet for longer than this is shown as "no changes since 10:42" rather than "caught up".
QUIET_AFTER_SECONDS = 60.0

OK, WARN, BAD, IDLE = "ok", "warn", "bad", "idle"

LOADING_WORDS = {
    Source.State.INITIALIZING: "starting",
    Source.State.SCANNING: "scanning",
    Source.State.EXPORTING_TO_S3: "exporting",
    Source.State.DOWNLOADING_FROM_S3: "downloading",
}


@dataclass(frozen=True)
class Health:
    """One collection's state for people and scripts."""

    status: str  # Rockset's collection status: CREATED, READY, PAUSED or DELETED
    colour: str  # ok | warn | bad | idle: the badge's CSS class
    words: str  # the badge: "live", "scanning 42 %", "catching up", "25 min behind", "error", "paused"
    detail: str  # one sentence beside it
    lag_seconds: float | None = None
    last_change: datetime | None = None
    replay: Replay | None = None  # while catching up after the load

    @property
    def needs_attention(self) -> bool:
        return self.colour == BAD

    @property
    def lag_text(self) -> str:
        if self.lag_seconds is None:
            return ""
        return "caught up" if self.lag_seconds == 0 else lag_words(self.lag_seconds)


def lag_words(seconds: float) -> str:
    """'3 s behind', '25 min behind', '2 h 5 min behind': whole units, as a person says them."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s behind"
    if seconds < 3600:
        return f"{seconds // 60} min behind"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min behind"


def export_wait() -> str:
    """How long DynamoDB's export takes before there is anything to load: five minutes or more on AWS; on
    the sandbox its own figure, so someone trying Millrace there isn't told to wait five minutes for 20 s."""
    if settings.MILLRACE_AWS_ENDPOINT_URL:
        return f"about {timing.duration(settings.MILLRACE_SANDBOX_EXPORT_SECONDS)} on the sandbox"
    return "five minutes or more"


def _clock_time(moment: datetime) -> str:
    local = timezone.localtime(moment)
    today = timezone.localtime(clock.now()).date()
    return f"{local:%H:%M}" if local.date() == today else f"{local:%-d %b %H:%M}"


@dataclass(frozen=True)
class Replay:
    """The catch-up after a load (the stream's replay of what changed during it), in figures.

    Estimated from time, not from sequence numbers (DynamoDB's grow with gaps, so their difference counts
    nothing): the records applied so far cover the stream's event time from its start position to the
    newest record's ApproximateCreationDateTime; the table is assumed to have changed at that pace until
    now, so what is left is that pace times the time not yet covered. The ETA comes from the replay's own
    pace: it covers `pace` seconds of the stream a second while the table's clock moves on by one, so the
    lag is gone in lag ÷ (pace − 1)."""

    applied: int
    remaining: int | None = None  # records still to replay, about; None before the first one is applied
    eta_seconds: float | None = None  # None while the replay isn't gaining on the table
    percentage: float | None = None  # of the stream's time since the start position, covered
    pace_known: bool = True  # False in the replay's first minute: listing the shards is not its pace

    @property
    def words(self) -> str:
        applied = f"{self.applied:,}"
        if self.remaining is None:
            return f"{applied} change{'s' if self.applied != 1 else ''} replayed so far"
        total = self.applied + self.remaining
        done = int(self.percentage or 0)  # rounded down: never 100 % before the end
        return f"{applied} of about {total:,} change{'s' if total != 1 else ''} replayed ({done} %)"

    @property
    def eta_words(self) -> str:
        if self.eta_seconds is None:
            return "not gaining on the table yet" if self.remaining is not None and self.pace_known else ""
        return f"about {timing.duration(self.eta_seconds)} to go"


# The replay's first seconds go to listing the stream's shards, so a pace measured over them is far too slow:
# a trial's sandbox replay said "about 6 min 54 s to go" three seconds before it was live.
PACE_AFTER_SECONDS = 60


def replay_of(collection: Collection, source: Source, lag: float | None) -> Replay | None:
    """The catch-up's figures while the collection replays the changes made during its load (CREATED,
    loaded, reading its stream, further behind than its bound); None otherwise."""
    catching_up = (
        collection.status == Collection.Status.CREATED
        and source.initial_load_done
        and source.following_stream
        and lag is not None
        and lag > LAG_BOUND_SECONDS
        and not source.error
    )
    if not catching_up:
        return None
    now = clock.now()
    start, reached, ended = source.stream_start_at, source.stream_last_record_at, source.load_finished_at
    applied = source.stream_records_applied
    covered = (reached - start).total_seconds() if start and reached else 0.0
    if covered <= 0:
        return Replay(applied)
    left = max(0.0, (now - reached).total_seconds())
    remaining = round(applied * left / covered)
    percentage = round(100.0 * covered / (covered + left), 3)  # no 39.99999 for 40
    elapsed = (now - ended).total_seconds() if ended else 0.0
    if elapsed < PACE_AFTER_SECONDS:
        return Replay(applied, remaining, None, percentage, pace_known=False)
    pace = covered / elapsed  # seconds of the stream replayed per second
    eta = left / (pace - 1) if pace > 1 else None
    return Replay(applied, remaining, eta, percentage)


def replay_progress(replay: Replay, lag: float) -> str:
    """The badge's sentence while catching up."""
    said = f"Replaying the changes made during the load: {replay.words}, {lag_words(lag)}"
    return said + (f"; {replay.eta_words}." if replay.eta_words else ".")


def last_change(collection: Collection, source: Source) -> datetime | None:
    """When the collection last changed: the newest document write, or the end of the load if later."""
    moments = [m for m in (collection.last_updated_at, source.load_finished_at) if m]
    return max(moments) if moments else None


def health(collection: Collection, source: Source | None = None, shards: Shards | None = None) -> Health:
    """The one mapping from the engine's state (source state, error, pause, stall, lag) to what is shown.
    `shards`: the source's shard figures when read beforehand with others' (`shards_of`); else it reads them."""
    source = source or collection.source
    lag_seconds = source.stream_lag_seconds if shards is None else source.stream_lag_from(shards)
    return replace(_health(collection, source, lag_seconds), last_change=last_change(collection, source))


def shards_of(sources: Iterable[Source]) -> dict[int, Shards]:
    """The shard figures of every source that follows its stream, in one query, by source id (a source
    without a shard yet gets empty figures): what a list passes to `health` so that its cost doesn't grow
    with the number of collections."""
    ids = [s.pk for s in sources if s.following_stream]
    if not ids:
        return {}
    figures = shard_figures(ids)
    return {pk: figures.get(pk, Shards()) for pk in ids}


def healths(collections: Iterable[Collection]) -> list[tuple[Collection, Source, Health]]:
    """Each collection (sources prefetched) with its source and health, for the list and the overview."""
    rows = [(c, c.source) for c in collections]
    shards = shards_of(source for _, source in rows)
    return [(c, source, health(c, source, shards.get(source.pk, Shards()))) for c, source in rows]


def _health(collection: Collection, source: Source, lag_seconds: float | None) -> Health:
    loaded = source.initial_load_done
    if collection.status == Collection.Status.DELETED:
        return Health(Collection.Status.DELETED, IDLE, "deleted", "Deleted; its documents are being removed.")
    if source.suspended_at:
        since = _clock_time(source.suspended_at)
        return Health(Collection.Status.PAUSED, IDLE, "paused", f"Paused since {since}; nothing is read meanwhile.")
    status = Collection.Status.READY if loaded and collection.status == Collection.Status.READY else "CREATED"
    if source.error:
        return Health(status, BAD, "error", "Stopped: " + source.error.split("\n")[0])
    if source.stall_reason:
        return Health(status, BAD, "stalled", "Stalled: " + source.stall_reason)
    if not loaded:
        words = LOADING_WORDS.get(source.state, "loading")
        if source.state in (Source.State.SCANNING, Source.State.DOWNLOADING_FROM_S3) and source.items_expected:
            words = f"{words} {source.completion_percentage:.0f} %"
        detail = {
            Source.State.INITIALIZING: "Waiting for a worker to start the initial load.",
            Source.State.EXPORTING_TO_S3: f"DynamoDB is exporting the table to S3 ({export_wait()}).",
        }.get(source.state, f"Initial load: {source.items_loaded:,} of about {source.items_expected:,} items.")
        return Health(Collection.Status.CREATED, WARN, words, detail)
    lag = lag_seconds
    if lag is None:
        if collection.status == Collection.Status.CREATED:
            return Health(status, WARN, "catching up", "Loaded; listing the stream's shards to replay the changes.")
        return Health(status, WARN, "catching up", "Listing the stream's shards.")
    if lag > LAG_BOUND_SECONDS:
        replay = replay_of(collection, source, lag)
        if replay:  # replaying the changes made during the load
            return Health(status, WARN, "catching up", replay_progress(replay, lag), lag, replay=replay)
        return Health(status, BAD, lag_words(lag), f"Live sync is {lag_words(lag)}, more than its bound of "
                      f"{timing.duration(LAG_BOUND_SECONDS)}.", lag)  # fmt: skip
    changed = last_change(collection, source)
    quiet = changed is None or (clock.now() - changed).total_seconds() > QUIET_AFTER_SECONDS
    if lag == 0 and quiet:
        detail = f"Caught up; no changes since {_clock_time(changed)}." if changed else "Caught up; no changes yet."
    else:
        detail = "Caught up." if lag == 0 else f"Live: {lag_words(lag)}."
    return Health(Collection.Status.READY, OK, "live", detail, lag)
