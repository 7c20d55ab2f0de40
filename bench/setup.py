"""Shared set-up for the benchmarks: Django on its own var/ folder, an organisation, a moto server."""

from __future__ import annotations

from typing import Any

import boto3

from collections_app.models import Source
from collections_app.services import collection_create
from collections_app.tables import describe_table
from console.models import Organisation
from integrations.models import Integration

ROLE_ARN = "arn:aws:iam::123456789012:role/millrace-bench"  # moto accepts any role


def moto_client(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x")  # fmt: skip


def bench_source(table: str, *, rcu: int, name: str, poll_ms: int = 250, auth: str = "keys") -> Source:
    """A collection on `table` made by the console's service. `auth` is the integration's access: "keys"
    (an access key pair) or "role" (a cross-account role, assumed through moto's STS)."""
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"email": "bench@localhost"})
    organisation, _ = Organisation.objects.get_or_create(name="bench")
    if auth == "role":
        integration, _ = Integration.objects.get_or_create(
            organisation=organisation, name="bench-role", defaults={"scope": "all", "auth_method": "role",
                                                                    "role_arn": ROLE_ARN, "status": "validated"},
        )  # fmt: skip
    else:
        integration, _ = Integration.objects.get_or_create(
            organisation=organisation, name="bench", defaults={"scope": "all", "auth_method": "keys",
                                                               "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                                                               "status": "validated"},
        )  # fmt: skip
        integration.set_secret_access_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        integration.save()
    collection = collection_create(
        organisation=organisation, user=user, workspace_name="commons", name=name, description="",
        integration=integration, table=describe_table(integration, "us-east-1", table), load_method="scan",
        rcu=rcu, may_enable_pitr=False, poll_frequency_ms=poll_ms,
    )  # fmt: skip
    return collection.source
