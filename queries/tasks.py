"""Celery tasks of the query layer: an id in, a use case called."""

from __future__ import annotations

from celery import shared_task

from queries import services


@shared_task
def run_query(query_pk: int) -> None:
    """An async query (`"async": true`): no retry, since a query that failed would fail again, and one the
    worker died running is better reported than silently run twice."""
    services.query_execute(query_pk)


@shared_task
def forget_expired_results() -> None:
    services.queries_forget_expired()
    services.queries_fail_abandoned()
