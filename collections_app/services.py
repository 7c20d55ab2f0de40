"""Writes for collections."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from collections_app.models import Collection, Source, Workspace
from collections_app.tables import TableSummary
from console.models import Organisation
from integrations.models import Integration


@transaction.atomic
def collection_create(
    *,
    organisation: Organisation,
    user: AbstractBaseUser,
    workspace_name: str,
    name: str,
    description: str,
    integration: Integration,
    table: TableSummary,
    load_method: str,
    rcu: int | None,
    may_enable_pitr: bool,
    poll_frequency_ms: int,
) -> Collection:
    """Save the collection and its source in INITIALIZING, and queue its initial load once committed."""
    from ingest.tasks import start_initial_load

    workspace, _ = Workspace.objects.get_or_create(
        organisation=organisation, name=workspace_name, defaults={"created_by": user}
    )
    collection = Collection.objects.create(workspace=workspace, name=name, description=description, created_by=user)
    source = Source.objects.create(
        collection=collection,
        integration=integration,
        table_name=table.name,
        region=table.region,
        load_method=load_method,
        rcu=rcu,
        may_enable_pitr=may_enable_pitr,
        poll_frequency_ms=poll_frequency_ms,
        table_arn=table.arn,
        key_schema=table.key_schema,
        billing_mode=table.billing_mode,
        provisioned_rcu=table.provisioned_rcu or None,
        table_item_count=table.item_count,
        table_size_bytes=table.size_bytes,
    )
    transaction.on_commit(lambda: start_initial_load.delay(source.pk))
    return collection
