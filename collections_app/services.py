"""Writes for collections."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from collections_app.models import Collection, Source, Workspace
from collections_app.tables import TableSummary
from console.models import Organisation
from integrations.models import Integration

STREAM_RETENTION = timedelta(hours=24)


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
        key_schema=[
            {**key, "AttributeType": table.attribute_types.get(key["AttributeName"], "S")} for key in table.key_schema
        ],
        billing_mode=table.billing_mode,
        provisioned_rcu=table.provisioned_rcu or None,
        table_item_count=table.item_count,
        table_size_bytes=table.size_bytes,
    )
    transaction.on_commit(lambda: start_initial_load.delay(source.pk))
    return collection


def _release_work(source: Source) -> None:
    from ingest.models import ScanSegment, Shard

    for model in (ScanSegment, Shard):
        model.objects.filter(source=source).update(leased_by="", lease_expires_at=None, dispatched_at=None)


@transaction.atomic
def source_pause(*, source: Source) -> None:
    """Stop reading; checkpoints stay, leases go, so resume continues where this left off."""
    if source.suspended_at:
        return
    source.suspended_at = timezone.now()
    source.save(update_fields=["suspended_at"])
    Collection.objects.filter(pk=source.collection_id).update(status=Collection.Status.PAUSED)
    _release_work(source)


@transaction.atomic
def source_resume(*, source: Source) -> bool:
    """Continue from the checkpoints. Returns False when the pause outlasted the stream's 24 hours,
    so some changes may be gone (the reader then reports it and the collection must be re-synced)."""
    if not source.suspended_at:
        return True
    within_retention = timezone.now() - source.suspended_at < STREAM_RETENTION
    source.suspended_at = None
    source.save(update_fields=["suspended_at"])
    status = Collection.Status.READY if source.initial_load_done else Collection.Status.CREATED
    Collection.objects.filter(pk=source.collection_id).update(status=status)
    _release_work(source)
    return within_retention


def source_retry(*, source: Source, automatic: bool = False) -> None:
    """Clear the error; the supervisor hands the work out again from the last checkpoints. An automatic
    retry keeps the error's time (its backoff grows from it) and counts itself; a person's starts afresh."""
    if automatic:
        Source.objects.filter(pk=source.pk).update(error="", auto_retries=F("auto_retries") + 1)
    else:
        Source.objects.filter(pk=source.pk).update(error="", error_at=None, auto_retries=0)
    _release_work(source)


@transaction.atomic
def source_resync(*, source: Source) -> None:
    """Start again: forget documents, checkpoints and progress, then a fresh initial load and the stream
    from a new start position. Used when changes were missed, or by an operator."""
    from ingest.tasks import start_initial_load

    source.collection.documents.all().delete()
    Collection.objects.filter(pk=source.collection_id).update(
        doc_count=0, total_size_bytes=0, last_updated_at=None, status=Collection.Status.CREATED
    )
    source.scan_segments.all().delete()
    source.shards.all().delete()
    source.capacity_spends.all().delete()
    source.export_files.all().delete()
    Source.objects.filter(pk=source.pk).update(
        state=Source.State.INITIALIZING,
        state_changed_at=timezone.now(),
        error="",
        error_at=None,
        suspended_at=None,
        load_started_at=None,
        load_finished_at=None,
        items_expected=0,
        items_loaded=0,
        rcu_consumed=0,
        load_done_notified_at=None,
        stream_arn="",
        stream_start_at=None,
        stream_last_processed_at=None,
        stream_last_record_at=None,
        shards_discovered_at=None,
        stream_records_applied=0,
        user_deletes=0,
        ttl_deletes=0,
        export_client_token="",
        export_arn="",
        export_checked_at=None,
        notice="",
        notice_at=None,
    )
    transaction.on_commit(lambda: start_initial_load.delay(source.pk))


class ExportDeleteError(Exception):
    """AWS refused to delete the export's files; the message says what to change."""


def export_delete(*, source: Source) -> int:
    """Delete exactly this export's objects (its manifests, markers and data files) from S3.
    Returns how many were deleted."""
    from integrations import aws

    bucket, folder = source.integration.s3_bucket, source.export_folder
    if not folder or source.export_deleted_at:
        return 0
    s3 = aws.integration_client(source.integration, "s3", source.region)
    keys = list(source.export_files.values_list("key", flat=True))
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{folder}/"):
            keys += [o["Key"] for o in page.get("Contents", [])]
        keys = list(dict.fromkeys(keys))
        refused = []
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": key} for key in keys[start : start + 1000]]
            refused += s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True}).get("Errors", [])
    except Exception as exc:  # noqa: BLE001 - explained to the user below
        error = aws.as_aws_error(exc)
        refused = [{"Code": error.code, "Message": error.message}]
    if refused:
        first = refused[0]
        raise ExportDeleteError(
            f"AWS refused to delete the export's files in s3://{bucket}/{folder}/ ({first['Code']}: "
            f"{first['Message']}). Allow s3:DeleteObject on arn:aws:s3:::{bucket}/{folder}/* in the policy of "
            f"integration “{source.integration.name}”, or delete the folder in the S3 console."
        )
    Source.objects.filter(pk=source.pk).update(export_deleted_at=timezone.now())
    return len(keys)
