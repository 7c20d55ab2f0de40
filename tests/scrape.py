"""Scrape /metrics as Prometheus would, and read one sample out of it."""

from __future__ import annotations

from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "test-metrics-token-0123456789"


def scrape(settings: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, keyed by (name, sorted labels)."""
    settings.MILLRACE_METRICS_TOKEN = TOKEN
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    """The sample's value; 0 for a counter's series not seen yet (no call made so far)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
