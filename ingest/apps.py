from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core import checks


def timings_fit(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """Refuse to start with leases, ticks and bounds that would let work stall unseen (ingest.timing)."""
    from ingest import timing

    return [checks.Error(problem, id="millrace.E001") for problem in timing.check()]


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Engine"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(timings_fit)
