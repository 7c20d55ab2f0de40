"""Start a source's initial load: record where the stream stands first, then load by the chosen method."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction

from collections_app.models import Source
from ingest import clock, errors, export, lifecycle, scan, tasks

log = logging.getLogger(__name__)

# Replay starts this long before the scan did: ApproximateCreationDateTime is rounded to the second.
# Replaying a little too much is harmless (an export has its own, wider margin).
REPLAY_MARGIN = timedelta(minutes=2)


def start(source_id: int) -> None:
    """Idempotent: a second delivery of the same task finds the load already started and does nothing."""
    source = Source.objects.select_related("integration__organisation", "collection").get(pk=source_id)
    if source.state != Source.State.INITIALIZING or source.load_started_at or source.suspended_at:
        return
    resource = f"table {source.table_name} in {source.region}"
    try:
        dynamodb = errors.engine_client(source, "dynamodb")
        asked = clock.monotonic()
        table = dynamodb.describe_table(TableName=source.table_name)["Table"]
        round_trip = clock.monotonic() - asked  # the Scan's segments are planned for at least this
    except Exception as exc:  # noqa: BLE001 - shown to the user with what to change
        error = errors.as_error(exc, resource)
        lifecycle.stop(source, errors.explain(error, action="dynamodb:DescribeTable", resource=resource,
                                           integration_name=source.integration.name))  # fmt: skip
        return
    stream = table.get("StreamSpecification") or {}
    if not stream.get("StreamEnabled") or stream.get("StreamViewType") != "NEW_AND_OLD_IMAGES":
        lifecycle.stop(
            source,
            f"The stream of table {source.table_name} is off or not NEW_AND_OLD_IMAGES, so changes can't be "
            "followed. Turn it on with view type NEW_AND_OLD_IMAGES, then press Retry.",
        )
        return
    if source.load_method == Source.LoadMethod.EXPORT:
        export.start(source, table)
        return
    now = clock.now()
    with transaction.atomic():
        segment_ids = scan.create_segments(
            source, table.get("TableSizeBytes", 0), item_count=table.get("ItemCount", 0), round_trip=round_trip
        )
        lifecycle.enter(
            source,
            Source.State.SCANNING,
            stream_arn=table["LatestStreamArn"],
            stream_start_at=now - REPLAY_MARGIN,
            load_started_at=now,
            items_expected=table.get("ItemCount", 0),
            error="",
        )
        transaction.on_commit(lambda: [tasks.scan_segment.delay(pk) for pk in segment_ids])
    log.info("started scan of %s in %d segments", source, len(segment_ids))
