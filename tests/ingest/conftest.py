from __future__ import annotations

import pytest

from console.sandbox import moto_exports
from integrations.models import Integration
from tests.conftest import ROLE_ARN


@pytest.fixture
def integration(people, aws):
    return Integration.objects.create(
        organisation=people.acme,
        name="prod",
        scope="all",
        role_arn=ROLE_ARN,
        status=Integration.Status.VALIDATED,
        s3_bucket="millrace-exports",
        s3_prefix="exports",
    )


@pytest.fixture
def exports():
    """moto writes exports in AWS's layout, 7 items a data file."""
    undo = moto_exports.install(items_per_file=7)
    yield
    undo()


@pytest.fixture(autouse=True)
def no_queue(monkeypatch):
    """Engine tests drive the engine directly; what it would queue for workers is recorded, not sent."""
    queued: list[tuple[str, int]] = []
    for name in (
        "start_initial_load",
        "scan_segment",
        "read_shard",
        "poll_export",
        "load_export_file",
        "discover_shards",
        "poll_quiet_shards",
    ):
        monkeypatch.setattr(f"ingest.tasks.{name}.delay", lambda pk, name=name: queued.append((name, pk)))
        monkeypatch.setattr(
            f"ingest.tasks.{name}.apply_async", lambda args, countdown=0, name=name: queued.append((name, args[0]))
        )
    return queued
