"""Initial load by export to S3, on moto extended to write AWS's real export layout (moto_exports)."""

from __future__ import annotations

import gzip
import io
import json
import random
import re
import time
from datetime import timedelta

import pytest
from botocore.exceptions import ReadTimeoutError
from django.urls import reverse
from django.utils import timezone

from collections_app.models import Collection, Document, Source
from ingest import export, initial_load, leases, notify
from ingest.models import ExportFile
from tests.conftest import client_for
from tests.ingest.engine import assert_equal_to_table, create_source, follow, item, load_by_export, make_table

pytestmark = pytest.mark.usefixtures("exports")


def pitr(aws, table: str) -> str:
    backups = aws.dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    return backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]


def exported(people, integration, aws, items=50, **options):
    make_table(aws.dynamodb, "t", items)
    return create_source(people.acme, people.alice, integration, "t", method="export", **options)


def test_a_multi_file_export_loads_then_hands_over_to_the_stream(
    people, integration, aws, faults, mailoutbox, django_capture_on_commit_callbacks
):
    requests = faults.spy("dynamodb", "ExportTableToPointInTime")
    source = exported(people, integration, aws, may_enable_pitr=True)
    assert pitr(aws, "t") == "DISABLED"
    with django_capture_on_commit_callbacks(execute=True):
        load_by_export(source)
    source.refresh_from_db()
    assert not source.error
    assert pitr(aws, "t") == "ENABLED" and source.pitr_enabled_by_millrace
    [request] = requests
    assert request["S3Bucket"] == "millrace-exports" and request["S3Prefix"] == "exports"
    assert request["ExportFormat"] == "DYNAMODB_JSON" and request["ClientToken"] == source.export_client_token
    assert ExportFile.objects.filter(source=source, done=True).count() == 8  # 50 items, 7 a file
    assert source.export_folder.startswith("exports/AWSDynamoDB/")
    assert source.state == Source.State.PROCESSING_STREAM and source.completion_percentage == 100
    assert source.items_loaded == source.items_expected == 50
    assert_equal_to_table(source, aws.dynamodb)

    rng = random.Random(5)
    for n in range(45, 60):  # updates and inserts after the export
        aws.dynamodb.put_item(TableName="t", Item=item(n, rng))
    aws.dynamodb.delete_item(TableName="t", Key={"pk": {"S": "item-00003"}})
    follow(source)
    assert_equal_to_table(source, aws.dynamodb)

    [mail] = mailoutbox
    assert mail.to == ["alice@acme.test"] and "initial load of commons.c is done" in mail.subject
    text, (html, _) = mail.body, mail.alternatives[0]
    for part in ("Export using S3", "Documents:  50", f"s3://millrace-exports/{source.export_folder}/",
                 "Delete export files", "point-in-time recovery", "http://"):  # fmt: skip
        assert part in text, part
    assert "Delete export files" in html and "point-in-time recovery" in html
    notify.load_done(source.pk)
    assert len(mailoutbox) == 1  # exactly once, however often it is asked


def test_the_start_position_is_recorded_before_the_export_and_replay_covers_writes_during_it(
    people, integration, aws, faults
):
    source = exported(people, integration, aws, may_enable_pitr=True)
    positions = []
    faults.add(
        "dynamodb",
        "ExportTableToPointInTime",
        "Unused",
        when=lambda params: positions.append(Source.objects.get(pk=source.pk).stream_start_at) and False,
    )
    before = timezone.now()
    initial_load.start(source.pk)
    assert positions[0] is not None and positions[0] <= before - export.REPLAY_MARGIN + timedelta(seconds=1)
    # Written while the export runs: the export may or may not hold them; the stream replay does.
    rng = random.Random(9)
    for n in range(10, 20):
        aws.dynamodb.put_item(TableName="t", Item=item(n + 100, rng))
    aws.dynamodb.delete_item(TableName="t", Key={"pk": {"S": "item-00001"}})
    load_by_export(source)
    follow(source)
    assert_equal_to_table(source, aws.dynamodb)


def test_a_retried_start_sends_the_same_client_token(people, integration, aws, faults):
    source = exported(people, integration, aws, may_enable_pitr=True)
    requests = faults.spy("dynamodb", "ExportTableToPointInTime")
    faults.network_error(
        "dynamodb", "ExportTableToPointInTime", ReadTimeoutError(endpoint_url="x"), when=lambda p: len(requests) == 1
    )
    initial_load.start(source.pk)  # the request is lost on the way: nothing recorded
    source.refresh_from_db()
    assert source.state == Source.State.EXPORTING_TO_S3 and not source.export_arn and not source.error
    export.poll(source.pk)  # the next beat tick asks again, with the same token
    source.refresh_from_db()
    assert source.export_arn and requests[0]["ClientToken"] == requests[1]["ClientToken"]
    load_by_export(source)
    assert_equal_to_table(source, aws.dynamodb)
    assert len(aws.dynamodb.list_exports(TableArn=source.table_arn)["ExportSummaries"]) == 1


def test_pitr_off_without_permission_to_turn_it_on_stops_with_the_steps(people, integration, aws, mailoutbox):
    source = exported(people, integration, aws, may_enable_pitr=False)
    load_by_export(source)
    source.refresh_from_db()
    assert "point-in-time recovery (PITR)" in source.error and "update-continuous-backups" in source.error
    assert pitr(aws, "t") == "DISABLED" and not source.export_arn
    assert "stopped with an error" in mailoutbox[0].subject


def test_pitr_update_refused_by_aws_says_which_permission(people, integration, aws, faults):
    faults.access_denied("dynamodb", "UpdateContinuousBackups", "dynamodb:UpdateContinuousBackups")
    source = exported(people, integration, aws, may_enable_pitr=True)
    load_by_export(source)
    source.refresh_from_db()
    assert "Allow dynamodb:UpdateContinuousBackups in the policy of integration “prod”" in source.error


def test_a_missing_bucket_fails_the_export_with_awss_words_and_retry_starts_a_new_one(people, integration, aws, faults):
    requests = faults.spy("dynamodb", "ExportTableToPointInTime")
    integration.s3_bucket = "no-such-bucket"
    integration.save()
    source = exported(people, integration, aws, may_enable_pitr=True)
    load_by_export(source)
    source.refresh_from_db()
    assert "S3NoSuchBucket: The specified bucket does not exist" in source.error
    assert "Create the bucket" in source.error

    integration.s3_bucket = "millrace-exports"
    integration.save()
    client_for(people.bob).post(reverse("collection_action", args=["commons", "c", "retry"]))
    export.poll(source.pk)
    load_by_export(source)
    source.refresh_from_db()
    assert not source.error and requests[0]["ClientToken"] != requests[-1]["ClientToken"]
    assert_equal_to_table(source, aws.dynamodb)


def test_access_denied_on_getobject_says_what_to_allow(people, integration, aws, faults):
    faults.access_denied("s3", "GetObject", "s3:GetObject")
    source = exported(people, integration, aws, may_enable_pitr=True)
    load_by_export(source)
    source.refresh_from_db()
    assert "AWS refused s3:GetObject" in source.error and "Allow s3:GetObject" in source.error
    assert Document.objects.filter(collection=source.collection).count() == 0


def _tamper(faults, key_part: str, change) -> None:
    """Rewrite what S3 returns for matching keys, as if the object had been changed in the bucket."""

    def rewrite(params, response):
        if key_part in params["Key"]:
            response["Body"] = io.BytesIO(change(response["Body"].read()))

    faults.rewrite("s3", "GetObject", rewrite)


def test_a_file_with_fewer_items_than_its_manifest_is_an_error_not_a_short_collection(people, integration, aws, faults):
    _tamper(faults, "/data/", lambda body: gzip.compress(b"".join(gzip.decompress(body).splitlines(True)[:-1])))
    source = exported(people, integration, aws, may_enable_pitr=True)
    load_by_export(source)
    source.refresh_from_db()
    # Whichever file is loaded first (7 items, or the last one with 1) is found one short.
    held, listed = map(int, re.search(r"holds (\d+) items but manifest-files.json says (\d+)", source.error).groups())
    assert held == listed - 1 and "Re-sync" in source.error
    assert source.state == Source.State.DOWNLOADING_FROM_S3 and not source.load_finished_at
    assert Collection.objects.get(pk=source.collection_id).status == Collection.Status.CREATED


def test_a_changed_file_fails_its_md5_check(people, integration, aws, faults):
    _tamper(faults, "/data/", lambda body: gzip.compress(gzip.decompress(body).replace(b'"a"', b'"b"')))
    source = exported(people, integration, aws, may_enable_pitr=True)
    load_by_export(source)
    source.refresh_from_db()
    assert "doesn't match its MD5 checksum" in source.error and not source.load_finished_at


def test_manifests_that_disagree_stop_before_loading(people, integration, aws, faults):
    def bump(body: bytes) -> bytes:
        summary = json.loads(body)
        summary["itemCount"] += 1
        return json.dumps(summary).encode()

    _tamper(faults, "manifest-summary.json", bump)
    source = exported(people, integration, aws, may_enable_pitr=True)
    load_by_export(source)
    source.refresh_from_db()
    assert "manifest-summary.json says 51 items, its files add up to 50" in source.error
    assert not ExportFile.objects.filter(source=source).exists()


def test_a_worker_dying_mid_file_is_taken_over_from_the_line_checkpoint(people, integration, aws, monkeypatch):
    """The first worker commits two batches of three lines, then dies; the next skips what's committed."""
    from ingest import writer

    monkeypatch.setattr(export, "BATCH_LINES", 3)
    source = exported(people, integration, aws, items=7, may_enable_pitr=True)
    initial_load.start(source.pk)
    while Source.objects.get(pk=source.pk).state == Source.State.EXPORTING_TO_S3:
        export.poll(source.pk)
    [file] = ExportFile.objects.filter(source=source)
    real_apply, calls = writer.apply, []

    def dies_on_the_third_batch(collection_id, changes):
        calls.append(len(changes))
        if len(calls) == 3:
            raise SystemExit("worker killed")
        real_apply(collection_id, changes)

    monkeypatch.setattr(writer, "apply", dies_on_the_third_batch)
    with monkeypatch.context() as killed:
        killed.setattr(leases, "release", lambda *args: None)  # a killed process cleans nothing up
        with pytest.raises(SystemExit):
            export.load_file(file.pk, owner="worker-1")
    file.refresh_from_db()
    assert file.lines_done == 6 and not file.done
    assert export.load_file(file.pk, owner="worker-2") == "held"  # its lease hasn't lapsed yet
    ExportFile.objects.filter(pk=file.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert export.load_file(file.pk, owner="worker-2") == "done"
    assert calls == [3, 3, 1, 1]  # the second worker applied only the seventh line
    source.refresh_from_db()
    assert source.items_loaded == 7 and source.state == Source.State.PROCESSING_STREAM
    assert_equal_to_table(source, aws.dynamodb)


def test_a_load_that_outlasts_the_streams_24_hours_says_so_and_resyncs(
    people, integration, aws, mailoutbox, django_capture_on_commit_callbacks
):
    source = exported(people, integration, aws, may_enable_pitr=True)
    initial_load.start(source.pk)
    long_ago = timezone.now() - timedelta(hours=26)
    Source.objects.filter(pk=source.pk).update(stream_start_at=long_ago, load_started_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        load_by_export(source)
    source.refresh_from_db()
    assert source.state == Source.State.INITIALIZING and not source.load_finished_at
    assert "26.0 hours" in source.notice and "24 hours" in source.notice
    assert [m.subject for m in mailoutbox] == ["Millrace: commons.c missed changes and is loading again"]
    page = client_for(people.alice).get(reverse("collection_detail", args=["commons", "c"])).content.decode()
    assert "only 24 hours" in page
    load_by_export(source)
    follow(source)
    assert_equal_to_table(source, aws.dynamodb)


def test_the_page_shows_the_export_then_the_download(people, integration, aws):
    source = exported(people, integration, aws, may_enable_pitr=True)
    Source.objects.filter(pk=source.pk).update(state=Source.State.EXPORTING_TO_S3, load_started_at=timezone.now(),
                                               state_changed_at=timezone.now() - timedelta(minutes=3))  # fmt: skip
    client = client_for(people.bob)
    page = client.get(reverse("collection_status", args=["commons", "c"])).content.decode()
    assert ">exporting<" in page and "3 min 0 s so far" in page and "s3://millrace-exports/exports" in page
    Source.objects.filter(pk=source.pk).update(state=Source.State.DOWNLOADING_FROM_S3, items_expected=40,
                                               items_loaded=10)  # fmt: skip
    page = client.get(reverse("collection_status", args=["commons", "c"])).content.decode()
    assert "downloading 25 %" in page and "25.0 %" in page and "10 of about 40 items" in page


def test_delete_export_removes_exactly_that_exports_files(people, integration, aws):
    s3 = aws.session.client("s3")
    s3.put_object(Bucket="millrace-exports", Key="exports/other.txt", Body=b"keep me")
    source = exported(people, integration, aws, may_enable_pitr=True)
    load_by_export(source)
    source.refresh_from_db()
    client = client_for(people.bob)
    page = client.get(reverse("collection_detail", args=["commons", "c"])).content.decode()
    assert "Delete export files" in page
    response = client.post(reverse("collection_action", args=["commons", "c", "delete-export"]), follow=True)
    assert "Deleted the export&#x27;s 13 files" in response.content.decode()  # 8 data files, 4 manifests, _started
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="millrace-exports").get("Contents", [])]
    assert keys == ["exports/other.txt"]
    assert "files deleted" in client.get(reverse("collection_detail", args=["commons", "c"])).content.decode()


def test_delete_export_without_s3_deleteobject_explains(people, integration, aws, faults):
    source = exported(people, integration, aws, may_enable_pitr=True)
    load_by_export(source)
    faults.access_denied("s3", "DeleteObjects", "s3:DeleteObject")
    response = client_for(people.bob).post(
        reverse("collection_action", args=["commons", "c", "delete-export"]), follow=True
    )
    text = response.content.decode()
    assert (
        "AWS refused to delete the export" in text and "Allow s3:DeleteObject on arn:aws:s3:::millrace-exports/" in text
    )
    source.refresh_from_db()
    assert not source.export_deleted_at


def test_the_organisations_notification_addresses_get_the_email_too(
    people, integration, aws, mailoutbox, django_capture_on_commit_callbacks
):
    people.acme.notification_emails = "ops@acme.test, alice@acme.test\ndata@acme.test"
    people.acme.save()
    with django_capture_on_commit_callbacks(execute=True):
        load_by_export(exported(people, integration, aws, may_enable_pitr=True))
    [mail] = mailoutbox
    assert mail.to == ["alice@acme.test", "ops@acme.test", "data@acme.test"]


def test_a_second_poll_that_finds_the_export_completed_late_changes_nothing(people, integration, aws):
    """Found by the crash drills: the start task's poll and a beat tick's both saw COMPLETED; the later
    one reset the progress that file tasks had begun to count."""
    source = exported(people, integration, aws, may_enable_pitr=True)
    initial_load.start(source.pk)
    stale = Source.objects.select_related("integration", "collection").get(pk=source.pk)
    while Source.objects.get(pk=source.pk).state == Source.State.EXPORTING_TO_S3:
        export.poll(source.pk)
    export.load_file(ExportFile.objects.filter(source=source).first().pk)
    description = aws.dynamodb.describe_export(ExportArn=Source.objects.get(pk=source.pk).export_arn)
    export._read_manifests(stale, description["ExportDescription"])
    assert Source.objects.get(pk=source.pk).items_loaded == 7
    load_by_export(source)
    source.refresh_from_db()
    assert source.items_loaded == source.items_expected == 50


def test_delete_export_is_refused_while_the_export_is_being_downloaded(people, integration, aws):
    source = exported(people, integration, aws, items=50, may_enable_pitr=True)
    initial_load.start(source.pk)
    for _ in range(1000):
        source.refresh_from_db()
        if source.state == Source.State.DOWNLOADING_FROM_S3:
            break
        time.sleep(0.01)  # moto writes the export in a thread, in real time
        export.poll(source.pk)
    first = ExportFile.objects.filter(source=source).first()
    export.load_file(first.pk)
    s3 = aws.session.client("s3")
    before = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="millrace-exports").get("Contents", []))
    response = client_for(people.bob).post(
        reverse("collection_action", args=["commons", "c", "delete-export"]), follow=True
    )
    text = response.content.decode()
    assert "The export is still being downloaded (1 of 8 files read so far)" in text
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="millrace-exports").get("Contents", [])) == before
    load_by_export(source)  # the load goes on to the end: nothing was taken from under it
    source.refresh_from_db()
    assert source.load_finished_at and not source.error and not source.export_deleted_at
    assert Collection.objects.get(pk=source.collection_id).doc_count == 50


def test_a_malformed_line_stops_the_load_naming_the_file_and_the_line(people, integration, aws, faults, monkeypatch):
    """The lines before it stay loaded, once, and the file's checkpoint says how far it got."""
    monkeypatch.setattr(export, "BATCH_LINES", 2)

    def break_the_third_line(body: bytes) -> bytes:
        lines = gzip.decompress(body).splitlines(True)
        if len(lines) < 3:
            return body  # as it was: compressed again, its MD5 would no longer match the manifest's
        lines[2] = b'{"Item": {"pk": {"S": "item-x"}, "big": {"N": "12abc"}}}\n'
        return gzip.compress(b"".join(lines))

    _tamper(faults, "/data/", break_the_third_line)
    source = exported(people, integration, aws, may_enable_pitr=True)
    load_by_export(source)
    source.refresh_from_db()
    where = r"The export's data file s3://millrace-exports/(\S+\.json\.gz) can't be loaded: line 3 "
    found = re.search(where, source.error)
    assert found, source.error
    assert "'12abc' is not a DynamoDB number" in source.error and "Press Re-sync" in source.error
    broken = ExportFile.objects.get(source=source, key=found.group(1))
    assert broken.lines_done == 2 and not broken.done
    assert not source.load_finished_at
    loaded = sum(ExportFile.objects.filter(source=source).values_list("lines_done", flat=True))
    collection = Collection.objects.get(pk=source.collection_id)
    assert collection.documents.count() == loaded == collection.doc_count


def test_batches_are_bounded_by_bytes_as_well_as_lines(people, integration, aws, monkeypatch):
    """Big items make a batch end before BATCH_LINES: memory holds BATCH_BYTES of documents, whatever
    their size, and the collection is still exactly the table."""
    from ingest import writer

    monkeypatch.setattr(export, "BATCH_BYTES", 2000)
    real_stage, batches = writer.stage, []

    def measured(changes, collection_id):
        if isinstance(changes, writer.CopyRows):
            sizes = [int(line.split(b"\t")[3]) for line in bytes(changes.text).splitlines()]
        else:
            sizes = [len(c.body.encode()) for c in changes]
        batches.append(sizes)
        return real_stage(changes, collection_id)

    monkeypatch.setattr(writer, "stage", measured)
    source = exported(people, integration, aws, may_enable_pitr=True)
    load_by_export(source)
    source.refresh_from_db()
    assert source.load_finished_at and not source.error
    full = [sizes for sizes in batches if sizes]
    assert len(full) > ExportFile.objects.filter(source=source).count()  # files were split by size
    assert all(sum(sizes[:-1]) < export.BATCH_BYTES for sizes in full)  # the last document is what crossed it
    assert sum(len(sizes) for sizes in full) == 50
    assert_equal_to_table(source, aws.dynamodb)


def test_the_reader_runs_at_most_a_few_batches_ahead_of_the_writer(people, integration, aws, monkeypatch):
    """Memory holds the batch being written, PIPELINE_BATCHES waiting and the one being read, however
    slow the database: the reader waits for the writer."""
    from ingest import convert, writer

    monkeypatch.setattr(export, "BATCH_LINES", 1)
    real_convert, real_stage = convert.item_to_json_bytes, writer.stage
    converted, ahead = [0], []

    def counting(item):
        converted[0] += 1
        return real_convert(item)

    def staging(changes, collection_id):
        ahead.append(converted[0] - (len(ahead) + 1))  # lines read beyond the batch being written
        return real_stage(changes, collection_id)

    monkeypatch.setattr(convert, "item_to_json_bytes", counting)
    monkeypatch.setattr(writer, "stage", staging)
    source = exported(people, integration, aws, items=21, may_enable_pitr=True)
    load_by_export(source)
    source.refresh_from_db()
    assert source.load_finished_at and not source.error
    assert converted[0] == 21
    assert max(ahead) <= export.PIPELINE_BATCHES + 1
    assert_equal_to_table(source, aws.dynamodb)
