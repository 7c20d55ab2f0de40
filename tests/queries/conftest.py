"""The query tests run their SQL as Acme, over `orders` (tests/conftest.py, see tests/queries/sample.py)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from queries.services import query_run


@pytest.fixture
def run(orders: SimpleNamespace) -> Callable[..., list[dict[str, Any]]]:
    def run_query(sql: str, parameters: list[dict] | None = None, **options: Any) -> list[dict[str, Any]]:
        return query_run(organisation=orders.acme, sql=sql, parameters=parameters or [], **options).rows.results

    return run_query
