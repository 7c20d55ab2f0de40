"""Millrace's rows in the shapes of the official client's models (`rockset/model/*.py`).

The client checks every field's type and enum on the way in, so dates are ISO-8601 strings, ids are
strings, and statuses are only the values its enums list.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from collections_app.models import Collection, Source, Workspace
from console.models import ApiKey, Organisation
from ingest.health import health, replay_of, shards_of
from ingest.lag import Shards
from ingest.models import LagAlert
from integrations.models import Integration


def iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def epoch_ms(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment else None


def email_of(user: Any) -> str:
    if user is None:
        return ""
    return user.email or user.get_username()


def organisation(org: Organisation) -> dict[str, Any]:
    return {
        "id": str(org.pk),
        "display_name": org.name,
        "created_at": iso(org.created_at),
        "external_id": org.external_id,
    }


def workspace(ws: Workspace, collection_count: int) -> dict[str, Any]:
    return {
        "name": ws.name,
        "description": ws.description,
        "created_at": iso(ws.created_at),
        "created_by": email_of(ws.created_by),
        "collection_count": collection_count,
    }


def integration(
    row: Integration, collections: list[Collection] | None = None, shards: dict[int, Shards] | None = None
) -> dict[str, Any]:
    """`shards`: as for `collection`, when a list of integrations read them once for all their collections."""
    dynamodb: dict[str, Any] = {}
    if row.auth_method == Integration.AuthMethod.ROLE:
        dynamodb["aws_role"] = {"aws_role_arn": row.role_arn, "aws_external_id": row.organisation.external_id}
    else:
        # The client's model requires the field; the secret itself is never sent back.
        dynamodb["aws_access_key"] = {"aws_access_key_id": row.access_key_id, "aws_secret_access_key": ""}
    if row.s3_bucket:
        dynamodb["s3_export_bucket_name"] = row.s3_bucket
    body: dict[str, Any] = {
        "name": row.name,
        "description": row.description,
        "created_at": iso(row.created_at),
        "created_by": email_of(row.created_by),
        "owner_email": email_of(row.created_by),
        "dynamodb": dynamodb,
    }
    if collections is not None:
        body["collections"] = [collection(c, shards) for c in collections]
    return body


def poll_frequency(milliseconds: int) -> str:
    """ISO-8601 duration, as Rockset's dynamodb_stream_poll_frequency (PT1S, PT0.25S, PT5M)."""
    seconds = Decimal(milliseconds) / 1000
    if seconds >= 60 and seconds % 60 == 0:
        return f"PT{int(seconds // 60)}M"
    text = f"{seconds.normalize():f}"
    return f"PT{text}S"


def _source_status(src: Source) -> dict[str, Any]:
    """Rockset's generic source Status: SUSPENDED, ERROR, INITIALIZING or PROCESSING, with the error message."""
    if src.suspended_at:
        state = "SUSPENDED"
    elif src.error:
        state = "ERROR"
    elif src.state == Source.State.INITIALIZING:
        state = "INITIALIZING"
    else:
        state = "PROCESSING"
    status: dict[str, Any] = {
        "state": state,
        "last_processed_at": iso(src.stream_last_processed_at),
        "total_processed_items": src.items_loaded + src.stream_records_applied,
    }
    if src.error or src.stall_reason:
        status["message"] = src.error or f"Stalled: {src.stall_reason}"
    return status


# Rockset's older StatusDynamoDb only knows three states; its current_status (V2) has all five.
V1_STATE = {
    Source.State.INITIALIZING: "INITIALIZING",
    Source.State.PROCESSING_STREAM: "PROCESSING_STREAM",
}


def raised_lag_alert(src: Source) -> LagAlert | None:
    try:
        alert = src.lag_alert
    except ObjectDoesNotExist:  # never raised, thresholds left at their defaults
        return None
    return alert if alert and alert.raised_at else None


def source(src: Source, shards: Shards | None = None) -> dict[str, Any]:
    """`shards`: the source's shard figures when a list read them for every source at once."""
    lag = src.stream_lag_seconds if shards is None else src.stream_lag_from(shards)
    replay = replay_of(src.collection, src, lag)
    alert = raised_lag_alert(src)
    dynamodb: dict[str, Any] = {
        "table_name": src.table_name,
        "aws_region": src.region,
        "use_scan_api": src.load_method == Source.LoadMethod.SCAN,
        "settings": {"dynamodb_stream_poll_frequency": poll_frequency(src.poll_frequency_ms)},
        "status": {
            "state": V1_STATE.get(src.state, "SCANNING_TABLE"),
            "scan_start_time": iso(src.load_started_at),
            "scan_end_time": iso(src.load_finished_at),
            "scan_records_processed": src.items_loaded,
            "scan_total_records": src.items_expected,
            "stream_last_processed_at": iso(src.stream_last_processed_at),
        },
        "current_status": {
            "state": src.state,
            "initial_dump_completion_percentage": round(src.completion_percentage, 2),
            "stream_last_processed_at": iso(src.stream_last_processed_at),
            # Millrace's additions (the client accepts extra fields): the truth behind PROCESSING_STREAM.
            "stalled": src.stall_reason or None,
            "stalled_since": iso(src.stall_since),
            "stream_lag_ms": None if lag is None else int(lag * 1000),
            "lag_alert": alert.reason if alert else None,
            "lag_alert_since": iso(alert.raised_at) if alert else None,
            # Rockset's DynamoDB statuses have no field for the replay after the load (only Kafka's
            # partitions had an offset_lag): while it runs, the records still to replay (an estimate) and
            # the seconds it should take; null otherwise, as on the collection's page.
            "replay_records_applied": replay.applied if replay else None,
            "replay_records_remaining": replay.remaining if replay else None,
            "replay_eta_seconds": round(replay.eta_seconds) if replay and replay.eta_seconds is not None else None,
        },
    }
    if src.rcu is not None:
        dynamodb["rcu"] = src.rcu
    return {
        "id": str(src.public_id),
        "integration_name": src.integration.name,
        "dynamodb": dynamodb,
        "status": _source_status(src),
        "suspended_at": iso(src.suspended_at),
    }


def collections(rows: Iterable[Collection]) -> list[dict[str, Any]]:
    """Many collections (sources prefetched), their lag figures read in one query for all of them."""
    rows = list(rows)
    shards = shards_of(s for row in rows for s in row.sources.all())
    return [collection(row, shards) for row in rows]


def collection(row: Collection, shards: dict[int, Shards] | None = None) -> dict[str, Any]:
    """`shards`: every source's shard figures, by source id (`shards_of`); read here when not given."""
    sources = list(row.sources.all())
    if shards is None:
        shards = shards_of(sources)
    figures = {s.pk: shards.get(s.pk, Shards()) for s in sources}
    return {
        "name": row.name,
        "workspace": row.workspace.name,
        "description": row.description,
        # The same mapping as the console's badge: CREATED until loaded and caught up, then READY; PAUSED.
        "status": health(row, sources[0], figures[sources[0].pk]).status if sources else row.status,
        "created_at": iso(row.created_at),
        "created_by": email_of(row.created_by),
        "read_only": False,
        "insert_only": False,
        "sources": [source(s, figures[s.pk]) for s in sources],
        "stats": {
            "doc_count": row.doc_count,
            "total_size": row.total_size_bytes,
            "last_updated_ms": epoch_ms(row.last_updated_at),
            "fill_progress": round(sources[0].completion_percentage / 100, 4) if sources else None,
        },
    }


def api_key(row: ApiKey, *, key: str | None = None) -> dict[str, Any]:
    """The key itself only when just created; otherwise an identifier, as Rockset did."""
    return {
        "name": row.name,
        "key": key or f"{ApiKey.KEY_PREFIX}…{row.last_four}",
        "created_at": iso(row.created_at),
        "created_by": email_of(row.user),
        "last_access_time": iso(row.last_used_at),
        "state": "ACTIVE" if row.is_active else "SUSPENDED",
    }
