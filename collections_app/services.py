"""Writes for collections."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import models, transaction
from django.utils import timezone

from collections_app import capacity
from collections_app.models import Collection, Source, Workspace
from collections_app.tables import TableSummary
from console.models import Organisation
from ingest import alerts, clock, health, lifecycle, tasks
from integrations import aws
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
    """Save the collection and its source in INITIALIZING, and queue its initial load once committed. A
    DELETED collection of the same name is purged first: its name is free again, as in Rockset."""
    workspace, _ = Workspace.objects.get_or_create(
        organisation=organisation, name=workspace_name, defaults={"created_by": user}
    )
    collections_purge_deleted(collections=Collection.objects.filter(workspace=workspace, name=name))
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
    transaction.on_commit(lambda: tasks.start_initial_load.delay(source.pk))
    return collection


def source_pause(*, source: Source) -> None:
    lifecycle.pause(source.pk)


def source_resume(*, source: Source) -> bool:
    """False when the pause outlasted the stream's 24 hours (some changes may be gone)."""
    return lifecycle.resume(source.pk)


def source_retry(*, source: Source) -> None:
    lifecycle.retry(source.pk)


def lag_alert_set(*, source: Source, behind_seconds: int, unread_seconds: int) -> None:
    alerts.thresholds_set(source.pk, behind_seconds=behind_seconds, unread_seconds=unread_seconds)


def source_resync(*, source: Source, rcu: int | None = None) -> None:
    lifecycle.resync(source.pk, rcu=rcu)


def collection_update(
    *, collection: Collection, description: str | None = None, rcu: int | None = None,
    poll_frequency_ms: int | None = None,
) -> Collection:  # fmt: skip
    """Change what a person may change after creation: the description here, the source's limits through the
    engine's lifecycle (under the source's lock)."""
    with transaction.atomic():
        if description is not None:
            Collection.objects.filter(pk=collection.pk).update(description=description)
        for source in collection.sources.all():
            lifecycle.change_limits(source.pk, rcu=rcu, poll_frequency_ms=poll_frequency_ms)
    collection.refresh_from_db()
    return collection


def collection_delete(*, collection: Collection, delete_export_files: bool = False) -> tuple[Collection, str]:
    """Mark the collection DELETED (work stops at once; rows are purged after a grace), then, if asked, delete
    its export's files from S3. Returns the collection and what became of the files, in words ("" when
    nothing was asked or there was nothing to delete): AWS refusing is reported, not raised, since the
    collection is deleted either way."""
    lifecycle.delete(collection.pk)
    collection.refresh_from_db()
    said = ""
    if delete_export_files:
        for source in collection.sources.all():
            try:
                deleted = export_delete(source=source, collection_deleted=True)
            except ExportDeleteError as error:
                said = str(error)
            else:
                if deleted:
                    said = f"Deleted the export's {deleted} files from s3://{source.integration.s3_bucket}."
    return collection, said


def resync_estimate(*, source: Source) -> dict[str, object]:
    """What a re-sync costs, for the confirmation page: every document is removed and loaded again, by the
    same method, from a table about the size the collection is now."""
    size = max(source.collection.total_size_bytes, source.table_size_bytes)
    items = max(source.collection.doc_count, source.table_item_count)
    estimate: dict[str, object] = {"size_bytes": size, "items": items, "method": source.get_load_method_display()}
    if source.load_method == Source.LoadMethod.SCAN:
        units = -(-size // capacity.BYTES_PER_RCU_SECOND)
        item_bytes = size / items if size and items else capacity.BYTES_PER_RCU_SECOND
        seconds = capacity.scan_seconds(size, source.rcu or 1, item_bytes=item_bytes)
        estimate.update(read_units=units, duration=capacity.duration(seconds))
    else:
        estimate.update(read_units=0, duration=f"{health.export_wait()} for DynamoDB's export, then the download")
    return estimate


def collections_purge_deleted(*, collections: models.QuerySet[Collection]) -> int:
    """Remove DELETED collections for good (documents, source, checkpoints), freeing their names and the
    integrations and workspaces they reference. Work stopped when they were marked deleted."""
    deleted = list(collections.filter(status=Collection.Status.DELETED))
    with transaction.atomic():
        for collection in deleted:
            collection.documents.all().delete()
            collection.sources.all().delete()  # cascades to segments, shards and the capacity ledger
            collection.delete()
    return len(deleted)


def collections_purge_expired(*, grace: timedelta) -> int:
    """Purge the collections DELETED more than `grace` ago (beat runs this every minute). The grace lets a
    worker that was mid-page when the collection was deleted finish and find its source stopped (it then
    writes nothing), rather than find the rows gone. The deletion's time is the source's suspended_at,
    which deleting sets (or an earlier pause did: work stopped then). One collection per transaction, so
    a large one doesn't hold up the others."""
    cutoff = clock.now() - grace
    expired = Collection.objects.filter(status=Collection.Status.DELETED).exclude(sources__suspended_at__gt=cutoff)
    purged = 0
    for pk in list(expired.values_list("pk", flat=True)):
        purged += collections_purge_deleted(collections=Collection.objects.filter(pk=pk))
    return purged


class ExportDeleteError(Exception):
    """AWS refused to delete the export's files; the message says what to change."""


def export_delete(*, source: Source, collection_deleted: bool = False) -> int:
    """Delete exactly this export's objects (its manifests, markers and data files) from S3.
    Returns how many were deleted. Refused until the initial load has read every file: deleting them
    mid-download would leave the collection stopped part-way, with NoSuchKey (unless the collection is
    being deleted: then nobody needs them)."""
    source = Source.objects.select_related("integration").get(pk=source.pk)  # the state as it is now
    bucket, folder = source.integration.s3_bucket, source.export_folder
    if not folder or source.export_deleted_at:
        return 0
    if not source.initial_load_done and not collection_deleted:
        files = source.export_files.count()
        done = source.export_files.filter(done=True).count()
        progress = f" ({done} of {files} files read so far)" if files else ""
        raise ExportDeleteError(
            f"The export is still being downloaded{progress}: its files are needed until the initial load "
            "is done. Delete them once the collection follows the stream."
        )
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
