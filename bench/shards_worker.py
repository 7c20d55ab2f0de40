"""The Celery app of the `shards` bench's worker: Millrace's own app (`console.celery`), watched.

Why a module of its own: the worker is a separate process (prefork pool, beat inside), so the bench
can't time it from outside. Started as `celery -A bench.shards_worker worker …`, it is the production
app and tasks unchanged, plus three observers that write to the bench's Redis (the broker's database):

- `bench:tasks`: one JSON line per task run: name, when it started and ended, and how late it started
  against its countdown (`eta`): the worker keeping up or not;
- `bench:expired`: tasks dropped unrun because they expired in the queue (beat's tick expires after two
  ticks: a worker that falls behind shows here);
- `bench:committed`: for each document a stream commit wrote, when the transaction committed (unix
  time; `ingest.writer.apply` wrapped, as bench/latency.py does in-process).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import django
import redis
from celery.signals import task_postrun, task_prerun, task_revoked

from console.celery import app

django.setup()  # before the engine's modules: they import models (celery would set Django up later)

from django.db import transaction  # noqa: E402 - after django.setup()

from ingest import writer  # noqa: E402 - after django.setup()

__all__ = ["app"]

_redis: dict[int, redis.Redis] = {}
_started: dict[str, tuple[float, float | None]] = {}


def store() -> redis.Redis:
    """One connection per process: the pool's processes are forked, and a socket must not cross a fork."""
    pid = os.getpid()
    if pid not in _redis:
        _redis[pid] = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    return _redis[pid]


def _eta_seconds(request: Any) -> float | None:
    eta = getattr(request, "eta", None)
    if not eta:
        return None
    from datetime import datetime

    return (datetime.fromisoformat(eta) if isinstance(eta, str) else eta).timestamp()


@task_prerun.connect
def _before(task_id: str, task: Any, **_: Any) -> None:
    _started[task_id] = (time.time(), _eta_seconds(task.request))


@task_postrun.connect
def _after(task_id: str, task: Any, **_: Any) -> None:
    start, eta = _started.pop(task_id, (time.time(), None))
    line = {"name": task.name.rsplit(".", 1)[-1], "start": start, "end": time.time(), "eta": eta}
    store().rpush("bench:tasks", json.dumps(line))


@task_revoked.connect
def _revoked(request: Any = None, expired: bool = False, **_: Any) -> None:
    name = getattr(request, "name", None) or getattr(getattr(request, "task", None), "name", "?")
    store().rpush("bench:expired" if expired else "bench:revoked", json.dumps({"name": name, "at": time.time()}))


_real_apply = writer.apply


def _apply_and_time(collection_id: int, changes: list[writer.Change]) -> None:
    _real_apply(collection_id, changes)
    ids = [c.doc_id for c in changes]
    if ids:
        transaction.on_commit(lambda: store().hset("bench:committed", mapping=dict.fromkeys(ids, time.time())))


writer.apply = _apply_and_time
