"""A deleted collection stays deleted: purged by beat within minutes, never brought back by the admin."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from collections_app.models import Collection, Document, Source
from collections_app.services import collection_delete
from console import tasks
from ingest.models import ScanSegment, Shard
from tests.conftest import client_for
from tests.ingest.engine import create_source, follow, load, make_table


def loaded(people, integration, aws) -> Source:
    make_table(aws.dynamodb, "t", 20)
    source = create_source(people.acme, people.alice, integration, "t", rcu=40)
    load(source)
    follow(source)
    return source


def test_beat_purges_a_deleted_collections_documents_and_rows_within_minutes(people, integration, aws, virtual_clock):
    source = loaded(people, integration, aws)
    kept = create_source(people.acme, people.alice, integration, "t", rcu=40, name="kept")
    collection = Collection.objects.get(pk=source.collection_id)
    assert Document.objects.filter(collection=collection).count() == 20 and Shard.objects.filter(source=source)
    collection_delete(collection=collection)
    tasks.purge_deleted_collections()  # at once: a worker mid-page may still be finishing
    assert Collection.objects.filter(pk=collection.pk, status=Collection.Status.DELETED).exists()
    virtual_clock.advance(2 * settings.MILLRACE_LEASE_SECONDS + 1)
    tasks.purge_deleted_collections()
    assert not Collection.objects.filter(pk=collection.pk).exists()
    assert not Document.objects.filter(collection_id=collection.pk).exists()
    assert not Source.objects.filter(pk=source.pk).exists()
    assert not Shard.objects.filter(source_id=source.pk).exists()
    assert not ScanSegment.objects.filter(source_id=source.pk).exists()
    assert Collection.objects.filter(pk=kept.collection_id).exists()  # only the deleted one
    schedule = settings.CELERY_BEAT_SCHEDULE["purge-deleted-collections"]
    assert schedule["task"] == "console.tasks.purge_deleted_collections" and schedule["schedule"] <= 60


def test_the_admins_resume_and_resync_refuse_a_deleted_collection(people, integration, aws):
    source = loaded(people, integration, aws)
    collection = Collection.objects.get(pk=source.collection_id)
    collection_delete(collection=collection)
    client = client_for(people.alice)
    for action in ("resume", "resync"):
        response = client.post(
            reverse("admin:collections_app_collection_changelist"),
            {"action": action, "_selected_action": [collection.pk]},
            follow=True,
        )
        assert "a deleted collection can&#x27;t be brought back" in response.content.decode()
        collection.refresh_from_db()
        source.refresh_from_db()
        assert collection.status == Collection.Status.DELETED and source.suspended_at
        assert Document.objects.filter(collection=collection).count() == 20  # a re-sync would have emptied it
