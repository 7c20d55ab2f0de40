"""The embedded Celery broker: kombu's SQLAlchemy transport on a SQLite file in var/.

Why not kombu's filesystem transport (the old default): a reader can open a message file that its
writer has created but not yet written, and the worker dies on "Unrecoverable error: JSONDecodeError"
(seen after four minutes of `make run` on a busy machine). SQLite makes each put and each take a
transaction, so a message is either whole or not there. `bench/broker.py` measures both side by side.

What SQLite needs from us, in every process that uses the broker (web, beat, the worker and its pool):
- WAL, so that readers never wait for the writer, with `synchronous=NORMAL` (no fsync per message; a
  committed message survives any process crash, only a power cut can lose the last few);
- a generous busy timeout (the settings pass `timeout` to sqlite3), so that a busy machine makes a put
  wait rather than fail with "database is locked";
- a short polling interval (see POLLING_SECONDS);
- a fresh file opened by several processes at once (`Transport` below);
- no SQLite connection crossing a fork: kombu keeps its engines in a class-level cache, and Celery's
  prefork pool forks from a process that may already hold one. SQLite forbids using a connection
  opened before `fork()` in the child (its locks belong to the parent), so the child's copy of every
  cached engine forgets its pool and opens connections of its own.
- kombu marks a taken message invisible instead of deleting it; the worker's copy in memory is what a
  worker stopping cleanly puts back if unacknowledged. Invisible rows are dead weight, forgotten every
  minute. (A SIGKILLed worker loses the messages it held, as with every transport but AMQP's; the
  supervisor tick re-dispatches the work, which lives in rows, not in messages.)
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Any

EMBEDDED_PREFIX = "sqla+sqlite:///"
BUSY_TIMEOUT_SECONDS = 60
# kombu's virtual transports sleep this long whenever the worker's prefetch is full or the queue is empty,
# so with prefetch 1 and four slots a worker takes at most about 4 / POLLING_SECONDS tasks a second (the
# default 1 s capped `make run` at ~12 tasks/s). An idle poll is one SQLite read: 0.1 s costs nothing.
POLLING_SECONDS = 0.1


def embedded_url(var_dir: Path) -> str:
    """The default broker URL: an absolute path, so web, beat and worker open the same file whatever
    their working directory."""
    return f"{EMBEDDED_PREFIX}{Path(var_dir).resolve() / 'broker.sqlite3'}"


def sqlite_path(url: str) -> Path | None:
    """The SQLite file behind an embedded broker URL; None for any other broker (Redis, RabbitMQ, …)."""
    if not url.startswith(EMBEDDED_PREFIX):
        return None
    return Path(url[len(EMBEDDED_PREFIX) :].split("?", 1)[0])


def transport_options() -> dict[str, Any]:
    """Passed by kombu to `sqlalchemy.create_engine`."""
    return {"connect_args": {"timeout": BUSY_TIMEOUT_SECONDS}}


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _forget_inherited_engines() -> None:
    try:
        from kombu.transport.sqlalchemy import Channel
    except ImportError:  # SQLAlchemy not installed: no embedded broker in this process
        return
    for engine, _session_factory in list(Channel._engines.values()):
        engine.dispose(close=False)  # the parent keeps using its connections; we never touch them


_installed = False


def install() -> None:
    """Set SQLite up for the broker in this process (idempotent); called where the Celery app is made.

    `sqla+` URLs then use `Transport` below instead of kombu's own."""
    global _installed
    if _installed:
        return
    _installed = True
    try:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
    except ImportError:
        return
    from kombu import transport

    # Every SQLAlchemy engine in this project is kombu's (Django has its own database layer).
    event.listen(Engine, "connect", _on_connect)
    os.register_at_fork(after_in_child=_forget_inherited_engines)
    for alias in ("sqla", "sqlalchemy"):
        transport.TRANSPORT_ALIASES[alias] = "console.broker:Transport"


def __getattr__(name: str) -> Any:
    """`Transport` is built on first use: SQLAlchemy is imported only by processes that use the broker."""
    if name == "Transport":
        return _transport_class()
    raise AttributeError(name)


_transport: type | None = None


def _transport_class() -> type:
    global _transport
    if _transport is not None:
        return _transport
    from kombu.transport import sqlalchemy as kombu_sqlalchemy
    from sqlalchemy.exc import IntegrityError, OperationalError

    class SafeChannel(kombu_sqlalchemy.Channel):
        """kombu's channel, safe when several processes open a fresh broker file at once (`make run`'s
        first start: web, beat and worker together). kombu's own fails the first send with "UNIQUE
        constraint failed: kombu_queue.name" when another process created the queue's row first, and the
        channel is unusable after it (measured by bench/broker.py)."""

        def _open(self) -> Any:
            for attempt in range(5):
                try:
                    return super()._open()
                except OperationalError as error:  # another process created the tables between check and create
                    if "already exists" not in str(error) or attempt == 4:
                        raise

        def _get_or_create(self, queue: str) -> Any:
            try:
                return super()._get_or_create(queue)
            except IntegrityError:  # another process created the queue's row first: it is there now
                self.session.rollback()
                return super()._get_or_create(queue)

    class Transport(kombu_sqlalchemy.Transport):
        Channel = SafeChannel
        # Not a transport option: kombu hands those to create_engine(), which refuses unknown ones.
        polling_interval = POLLING_SECONDS

    _transport = Transport
    return _transport


def forget_delivered(url: str) -> int:
    """Delete messages a worker has already taken; how many. Nothing to do for other brokers."""
    path = sqlite_path(url)
    if path is None or not path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS)) as connection:
        try:
            with connection:
                return connection.execute("DELETE FROM kombu_message WHERE visible = 0").rowcount
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):  # no message sent yet
                return 0
            raise
