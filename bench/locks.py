"""The share of the writers' transaction time that PostgreSQL spends waiting for locks, sampled from
pg_stat_activity while a benchmark runs: a share, not a rate, so it says what the locks cost whatever
else loads the machine (a shared, busy machine makes rates wander from run to run)."""

from __future__ import annotations

import threading

import psycopg
from django.db import connection

SAMPLE_SECONDS = 0.005


class LockWaits:
    """`with LockWaits() as waits: ...`, then `waits.share`: of the samples that found one of this
    database's other sessions in a transaction, the part that found it waiting for a lock."""

    def __init__(self) -> None:
        self.waiting = self.busy = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> LockWaits:
        self._dsn = connection.get_connection_params()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def share(self) -> float:
        return self.waiting / self.busy if self.busy else 0.0

    def _sample(self) -> None:
        params = {k: v for k, v in self._dsn.items() if k in ("dbname", "user", "password", "host", "port")}
        with psycopg.connect(**params, autocommit=True) as session:
            while not self._stop.wait(SAMPLE_SECONDS):
                waiting, busy = session.execute(
                    "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
                    "AND backend_type = 'client backend'"
                ).fetchone()
                self.waiting += waiting
                self.busy += busy
