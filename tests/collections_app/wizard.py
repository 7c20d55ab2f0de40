"""Drive the collection wizard through Django's test client."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

PREFIX = "collection_wizard"


def step_url(step: str) -> str:
    return reverse("collection_create_step", kwargs={"step": step})


def post_step(client: Client, step: str, data: dict[str, Any], **extra: str) -> Any:
    payload = {f"{step}-{k}": v for k, v in data.items()}
    payload["collection_wizard-current_step"] = step
    payload.update(extra)
    return client.post(step_url(step), payload)


def fill(client: Client, integration: Any, table: str = "orders", method: dict[str, Any] | None = None,
         name: dict[str, Any] | None = None, until: str = "review") -> Any:  # fmt: skip
    """Fill the steps up to `until` (included), asserting each moves on; return the last response."""
    steps = [
        ("source", {"integration": integration.pk, "region": "us-east-1", "table_name": table}),
        ("table", {}),
        ("method", method or {"load_method": "scan", "rcu": 50}),
        ("stream", {}),
        (
            "name",
            name
            or {
                "workspace": "commons",
                "new_workspace": "",
                "name": "orders",
                "description": "",
                "poll_frequency": "1",
            },
        ),  # fmt: skip
        ("review", {}),
    ]
    for step, data in steps:
        response = post_step(client, step, data)
        if step == until:
            break
        assert response.status_code == 302, (step, response.context and response.context["form"].errors)
    if until == "review" and response.status_code == 302:  # the wizard's "done" step creates the collection
        response = client.get(response["Location"])
    return response
