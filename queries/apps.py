from __future__ import annotations

from django.apps import AppConfig


class QueriesConfig(AppConfig):
    """Rockset SQL over the documents: the dialect, the translator, the safe runner, and the queries people
    ran (history, async results). It reads `collections_app`'s documents and never writes them."""

    name = "queries"
