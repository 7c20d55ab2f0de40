"""Crash drills: two real workers share the work; one is SIGKILLed at a seeded random moment during a
Scan, an export download or the stream apply, and restarted; after each trial every document of the
collection is compared with the table, and the load counters show no page or file applied twice."""

from __future__ import annotations

import random
import time

import pytest

from collections_app.models import Collection, Source
from collections_app.services import source_resync
from tests.e2e.test_live_sync import equal_to_table, wait_for, worker_env
from tests.ingest.engine import create_source, item, make_table
from tests.processes import celery_worker, kill_worker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TRIALS = 21  # seven of each kind
SEED = 20261127


class Workers:
    """Two workers at once, the first with beat; kill() SIGKILLs one and starts another in its place."""

    def __init__(self, broker: str, env: dict[str, str], tmp_path) -> None:
        self.broker, self.env, self.tmp_path = broker, env, tmp_path
        self.started = 0
        self.slots = [self._start(beat=True), self._start(beat=False)]

    def _start(self, *, beat: bool) -> tuple:
        self.started += 1
        context = celery_worker(self.broker, beat=beat, log=self.tmp_path / f"worker{self.started}.log", **self.env)
        return context, context.__enter__()

    def kill(self, rng: random.Random) -> None:
        index = rng.randrange(2)
        context, process = self.slots[index]
        kill_worker(process)
        context.__exit__(None, None, None)
        self.slots[index] = self._start(beat=index == 0)

    def stop(self) -> None:
        for context, _ in self.slots:
            context.__exit__(None, None, None)


def under_way(source: Source, loading: str) -> bool:
    """Loading, or (a small load can be over between two looks) already replaying the stream."""
    current = Source.objects.get(pk=source.pk)
    return current.load_started_at is not None and current.state in {loading, Source.State.PROCESSING_STREAM}


def ready(source: Source) -> bool:
    return Collection.objects.get(pk=source.collection_id).status == Collection.Status.READY


@pytest.mark.moto(records_per_shard=200, items_per_file=100)
def test_crash_drills_lose_nothing_and_apply_nothing_twice(people, e2e_integration, moto_server, broker, tmp_path):
    rng = random.Random(SEED)
    moto_server.s3.create_bucket(Bucket="millrace-exports")
    e2e_integration.s3_bucket = "millrace-exports"
    e2e_integration.save()
    make_table(moto_server.dynamodb, "scanned", 300, seed=1)
    make_table(moto_server.dynamodb, "exported", 800, seed=2)
    scan = create_source(people.acme, people.alice, e2e_integration, "scanned", rcu=15, name="scanned")
    export = create_source(people.acme, people.alice, e2e_integration, "exported", name="exported", method="export",
                           may_enable_pitr=True)  # fmt: skip
    workers = Workers(broker, worker_env(moto_server, tmp_path), tmp_path)
    results: list[tuple[str, float, bool, str]] = []
    try:
        wait_for(lambda: ready(scan) and ready(export), timeout=120, what="both collections to be READY")
        writes = 5000
        for trial in range(TRIALS):
            kind = ("scan", "export", "stream")[trial % 3]
            source = {"scan": scan, "export": export, "stream": scan}[kind]
            if kind == "stream":
                for n in range(writes, writes + 40):
                    moto_server.dynamodb.put_item(TableName="scanned", Item=item(n, rng))
                gone = f"item-{rng.randrange(300):05d}"
                moto_server.dynamodb.delete_item(TableName="scanned", Key={"pk": {"S": gone}})
                writes += 40
            else:
                source_resync(source=Source.objects.get(pk=source.pk))
                loading = Source.State.SCANNING if kind == "scan" else Source.State.DOWNLOADING_FROM_S3
                wait_for(lambda s=source, st=loading: under_way(s, st), what=f"{kind} to start")
            moment = rng.uniform(0.0, {"scan": 2.0, "export": 0.3, "stream": 1.0}[kind])
            time.sleep(moment)
            before = Source.objects.get(pk=source.pk)
            progress = before.stream_records_applied if kind == "stream" else before.items_loaded
            workers.kill(rng)
            try:
                wait_for(lambda s=source: ready(s) and equal_to_table(s, moto_server.dynamodb), timeout=90,
                         what=f"trial {trial} ({kind}) to converge")  # fmt: skip
                after = Source.objects.get(pk=source.pk)
                twice = ""
                if kind != "stream" and after.items_loaded != after.items_expected:
                    twice = f"items_loaded {after.items_loaded} != {after.items_expected}"
                results.append(
                    (
                        kind,
                        moment,
                        not twice,
                        f"killed with {progress} {'changes applied' if kind == 'stream' else 'items loaded'} {twice}",
                    )
                )
            except AssertionError as error:
                results.append((kind, moment, False, str(error)))
    finally:
        workers.stop()
    failures = [r for r in results if not r[2]]
    print(f"\ncrash drills: {len(results)} trials (seed {SEED}), {len(failures)} failures")
    for kind, moment, ok, detail in results:
        print(f"  {kind:6} kill after {moment:.2f} s: {'ok' if ok else 'FAILED'} {detail}")
    assert len(results) >= 20 and not failures
