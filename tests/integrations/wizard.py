"""Drive the integration wizard through Django's test client the way a browser would."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from tests.conftest import ROLE_ARN

SCOPE = {"name": "prod-orders", "description": "", "scope": "table", "table_name": "orders", "region": "us-east-1",
         "s3_bucket": "", "s3_prefix": ""}  # fmt: skip
ROLE = {"auth_method": "role", "role_arn": ROLE_ARN, "access_key_id": "", "secret_access_key": ""}


def step_url(step: str, pk: int | None = None) -> str:
    if pk:
        return reverse("integration_edit_step", kwargs={"pk": pk, "step": step})
    return reverse("integration_create_step", kwargs={"step": step})


def post_step(client: Client, step: str, data: dict[str, Any], pk: int | None = None, **extra: str) -> Any:
    prefix = f"integration_wizard_{pk or 'new'}"
    payload = {f"{step}-{k}": v for k, v in data.items()}
    payload[f"{prefix}-current_step"] = step
    payload.update(extra)
    return client.post(step_url(step, pk), payload)


def run_wizard(client: Client, scope: dict[str, Any] | None = None, access: dict[str, Any] | None = None,
               pk: int | None = None, draft: bool = False) -> Any:  # fmt: skip
    """Fill every step; return the response to the last POST, followed to the page it leads to."""
    assert post_step(client, "scope", {**SCOPE, **(scope or {})}, pk).status_code == 302
    assert post_step(client, "policy", {}, pk).status_code == 302
    assert post_step(client, "access", {**ROLE, **(access or {})}, pk).status_code == 302
    client.get(step_url("validate", pk))
    response = post_step(client, "validate", {"save_as_draft": "on"} if draft else {}, pk)
    if response.status_code == 302:
        response = client.get(response["Location"], follow=True)
    return response
