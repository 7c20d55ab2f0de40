from __future__ import annotations

from django.apps import AppConfig


class QueriesConfig(AppConfig):
    """Rockset SQL over the documents: the dialect, the translator and the safe runner. No models: it reads
    `collections_app`'s documents and never writes them."""

    name = "queries"
