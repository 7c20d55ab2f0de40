"""Hundreds of idle shards and a few busy ones, followed by one real Celery worker at `make run`'s concurrency.

What runs: `make run`'s worker (prefork, 4 slots, beat inside it with `-B`, so the supervisor tick runs in
one of the same four slots) on Redis (`MILLRACE_BENCH_REDIS_URL`, default redis://127.0.0.1:6379/12,
flushed first: Redis, not the embedded SQLite broker, because its queue depth can be read with LLEN),
against the bench's database and moto server. The worker's app is `bench.shards_worker`: Millrace's own
app and tasks, unchanged, with observers that note each task's start, end and due time, and each stream
commit's time, in that Redis.

Set-up: one small table with a stream per collection (moto gives one shard per stream), each collection
created through the console's service (`bench.setup.bench_source`) and loaded by Scan in this process,
then handed to the worker, which discovers and follows every shard. Then a writer puts items into the
busy tables at a steady rate for the measured period.

How AWS calls are counted: the worker is another process, so botocore-level spying (tests/aws_faults.py)
can't see its calls. bench/run.py starts moto behind `bench/moto_counting.py`, a WSGI middleware that
notes every DynamoDB / DynamoDB Streams call by its `X-Amz-Target` header and the table named in its
body (or in moto's shard iterator); this bench reads them back over HTTP.

Figures (printed, never asserted):
- busy shards' sync latency p50/p99, put_item returned → document committed (goal p99 ≤ 1 s);
- GetRecords (and GetShardIterator) calls per idle shard per hour (goal ≤ 900);
- DescribeStream calls per second across all collections, mean and highest 1 s window, in steady state and
  during start-up (DynamoDB Streams allows 10 DescribeStream calls a second per account; Millrace aims at 5);
- the supervisor tick's duration, ticks run vs due, ticks expired in the queue;
- whether the worker kept up: how late countdown tasks started, slot occupancy, queue depth.

Sizes from the environment: MILLRACE_BENCH_SHARDS_IDLE (500), MILLRACE_BENCH_SHARDS_BUSY (10),
MILLRACE_BENCH_SHARDS_WRITES (writes/s per busy table, 5), MILLRACE_BENCH_SHARDS_SECONDS (measured period,
150), MILLRACE_BENCH_SHARDS_WARMUP (longest wait for every shard to be caught up, 120),
MILLRACE_BENCH_SHARDS_POLL_MS (the collections' poll frequency, 250 as in the latency bench; the
console's default is 1000, which alone puts p99 near 1 s), MILLRACE_BENCH_SHARDS_AUTH (the integration's
access: "role", a cross-account role as on the sandbox, or "keys", an access key pair).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection, connections

from bench.latency import percentile
from bench.setup import bench_source, moto_client
from collections_app.models import Source
from console.processes import kill_group, popen_bound
from ingest import initial_load, scan
from ingest.models import ScanSegment, Shard
from tests.services_up import reachable

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "shards_"
CONCURRENCY = 4  # `make run`'s worker (console/management/commands/serve.py)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def table_name(n: int) -> str:
    return f"{PREFIX}{n:04d}"


def _create_and_load(endpoint: str, n: int, poll_ms: int, auth: str) -> None:
    """One table with a stream and an item, its collection made by the console's service, loaded by Scan."""
    dynamodb = moto_client(endpoint, "dynamodb")
    name = table_name(n)
    dynamodb.create_table(
        TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )  # fmt: skip
    dynamodb.put_item(TableName=name, Item={"pk": {"S": f"seed-{n}"}})
    try:
        source = bench_source(name, rcu=10, name=name.replace("_", "-"), poll_ms=poll_ms, auth=auth)
        initial_load.start(source.pk)
        for pk in ScanSegment.objects.filter(source=source).values_list("pk", flat=True):
            while scan.run_segment(pk, slice_seconds=5) not in {"done", "failed", "lost", "stopped"}:
                pass
    finally:
        connection.close()  # each thread's own connection


def set_up(endpoint: str, count: int, poll_ms: int, auth: str) -> list[int]:
    """`count` tables and collections, in PROCESSING_STREAM; returns their source ids."""
    _create_and_load(endpoint, 0, poll_ms, auth)  # the organisation and integration, made once
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda n: _create_and_load(endpoint, n, poll_ms, auth), range(1, count)))
    sources = Source.objects.filter(table_name__startswith=PREFIX)
    streaming = list(sources.filter(state=Source.State.PROCESSING_STREAM).values_list("pk", flat=True))
    if len(streaming) != count:
        print(f"shards: only {len(streaming)} of {count} collections reached PROCESSING_STREAM")
    return streaming


def start_worker(endpoint: str, broker_url: str, log: Path) -> subprocess.Popen:
    """`make run`'s worker command, with beat inside (-B), on our app module (the observers)."""
    env = dict(
        os.environ,
        CELERY_BROKER_URL=broker_url,
        MILLRACE_AWS_ENDPOINT_URL=endpoint,
        PYTHONPATH=str(ROOT),
        LOG_LEVEL="WARNING",
    )
    command = [
        sys.executable, "-m", "celery", "-A", "bench.shards_worker", "worker", "-l", "warning",
        "--concurrency", str(CONCURRENCY), "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-n", f"bench{os.getpid()}@%h", "-B", "-s", str(Path(settings.VAR_DIR) / "shards-beat-schedule"),
    ]  # fmt: skip
    output = open(log, "w")  # noqa: SIM115 - the process owns it until it ends
    return popen_bound(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
    kill_group(process)  # the pool and beat too, whatever happened


def moto_calls(endpoint: str, since: float) -> list[tuple[float, str, str]]:
    with urllib.request.urlopen(f"{endpoint}/__bench__/calls?since={since}") as answer:
        return [tuple(c) for c in json.load(answer)]


def wait_caught_up(sources: list[int], limit: float) -> float:
    """Seconds until every source's shard is known and has reached the tip once (or `limit`)."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        shards = Shard.objects.filter(source_id__in=sources)
        if shards.count() >= len(sources) and not shards.filter(caught_up=False).exists():
            break
        time.sleep(2)
    return time.monotonic() - start


def write_steadily(endpoint: str, tables: list[str], rate: float, seconds: float, put_done: dict[str, float]) -> None:
    """`rate` puts a second into each table, round-robin, each key unique; notes when each put returned."""
    dynamodb = moto_client(endpoint, "dynamodb")
    total = rate * len(tables)
    start = time.monotonic()
    for n in range(int(total * seconds)):
        due = start + n / total
        if (delay := due - time.monotonic()) > 0:
            time.sleep(delay)
        table = tables[n % len(tables)]
        key = f"{table}-{n:07d}"
        dynamodb.put_item(TableName=table, Item={"pk": {"S": key}, "n": {"N": str(n)}})
        put_done[key] = time.time()


def sample_queue(store: redis.Redis, stop: threading.Event, samples: list[tuple[int, int]]) -> None:
    """Every second: messages waiting in the queue (LLEN celery) and taken but not yet acknowledged
    (the `unacked` hash: mostly countdown tasks the worker holds until due)."""
    while not stop.wait(1.0):
        samples.append((store.llen("celery"), store.hlen("unacked")))


def per_second(times: list[float], start: float, end: float) -> tuple[float, int]:
    """Mean calls a second over [start, end), and the highest count in any one-second window."""
    inside = sorted(t for t in times if start <= t < end)
    highest, j = 0, 0
    for i, t in enumerate(inside):
        while inside[j] <= t - 1.0:
            j += 1
        highest = max(highest, i - j + 1)
    return len(inside) / max(end - start, 1e-9), highest


def main(endpoint: str) -> dict[str, float]:
    broker_url = os.environ.get("MILLRACE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    if not reachable(broker_url, 6379):
        print(f"shards: SKIPPED, no Redis at {broker_url} (set MILLRACE_BENCH_REDIS_URL)")
        return {}
    idle, busy = _env_int("MILLRACE_BENCH_SHARDS_IDLE", 500), _env_int("MILLRACE_BENCH_SHARDS_BUSY", 10)
    rate, seconds = _env_int("MILLRACE_BENCH_SHARDS_WRITES", 5), _env_int("MILLRACE_BENCH_SHARDS_SECONDS", 150)
    warmup, poll_ms = _env_int("MILLRACE_BENCH_SHARDS_WARMUP", 120), _env_int("MILLRACE_BENCH_SHARDS_POLL_MS", 250)
    auth = os.environ.get("MILLRACE_BENCH_SHARDS_AUTH", "role")
    store = redis.Redis.from_url(broker_url)
    store.flushdb()

    began = time.monotonic()
    sources = set_up(endpoint, idle + busy, poll_ms, auth)
    busy_tables = [table_name(n) for n in range(busy)]
    idle_tables = {table_name(n) for n in range(busy, idle + busy)}
    print(f"shards: {len(sources)} collections ({idle} idle, {busy} busy), one shard each, loaded by Scan in "
          f"{time.monotonic() - began:.0f} s; integration by {auth}; poll frequency {poll_ms} ms; one worker, "
          f"concurrency {CONCURRENCY}, beat inside it, broker {broker_url}")  # fmt: skip

    log = Path(settings.VAR_DIR) / "shards-worker.log"
    worker_started = time.time()
    worker = start_worker(endpoint, broker_url, log)
    try:
        caught_up_after = wait_caught_up(sources, warmup)
        time.sleep(min(30.0, warmup))  # idle pacing doubles up to its ceiling: let it get there
        startup_calls = moto_calls(endpoint, worker_started)
        put_done: dict[str, float] = {}
        depth: list[tuple[int, int]] = []
        stop = threading.Event()
        sampler = threading.Thread(target=sample_queue, args=(store, stop, depth), daemon=True)
        sampler.start()
        t0 = time.time()
        write_steadily(endpoint, busy_tables, rate, seconds, put_done)
        t1 = time.time()
        deadline = time.monotonic() + 15
        keys = list(put_done)  # the hash also holds the initial items' replay: count the puts' own keys
        while time.monotonic() < deadline and None in store.hmget("bench:committed", keys):
            time.sleep(0.5)
        stop.set()
        sampler.join()
        alive = worker.poll() is None
    finally:
        stop_worker(worker)
        connections.close_all()

    committed = {k.decode(): float(v) for k, v in store.hgetall("bench:committed").items()}
    latencies = [max(0.0, committed[k] - t) for k, t in put_done.items() if k in committed]
    missing = len(put_done) - len(latencies)
    calls = moto_calls(endpoint, t0)
    window = [c for c in calls if c[0] < t1]
    by_op: dict[str, Counter[str]] = defaultdict(Counter)
    for _, op, table in window:
        by_op[op][table] += 1
    span = t1 - t0
    idle_get_records = sum(n for table, n in by_op["GetRecords"].items() if table in idle_tables)
    idle_iterators = sum(n for table, n in by_op["GetShardIterator"].items() if table in idle_tables)
    busy_get_records = sum(n for table, n in by_op["GetRecords"].items() if table in busy_tables)
    get_records_per_hour = idle_get_records * 3600 / span / max(idle, 1)
    describe = [t for t, op, _ in window if op == "DescribeStream"]
    describe_mean, describe_peak = per_second(describe, t0, t1)
    startup_describe = [t for t, op, _ in startup_calls if op == "DescribeStream"]
    startup_mean, startup_peak = per_second(startup_describe, worker_started, t0)

    tasks = [json.loads(line) for line in store.lrange("bench:tasks", 0, -1)]
    in_window = [t for t in tasks if t0 <= t["start"] < t1]
    ticks = [t["end"] - t["start"] for t in in_window if t["name"] == "supervisor_tick"]
    startup_ticks = [t["end"] - t["start"] for t in tasks if t["start"] < t0 and t["name"] == "supervisor_tick"]
    expired = [json.loads(line) for line in store.lrange("bench:expired", 0, -1)]
    late = [t["start"] - t["eta"] for t in in_window if t["name"] == "read_shard" and t["eta"]]
    queued_now = [t for t in in_window if t["name"] == "read_shard" and not t["eta"]]
    busy_time = sum(min(t["end"], t1) - t["start"] for t in in_window)
    names = ("read_shard", "poll_quiet_shards", "discover_shards")
    runs = {n: [t["end"] - t["start"] for t in in_window if t["name"] == n] for n in names}
    counts = Counter(t["name"] for t in in_window)
    tick_seconds = float(settings.MILLRACE_TICK_SECONDS)

    print(f"shards: every shard caught up {caught_up_after:.0f} s after the worker started; then {span:.0f} s "
          f"measured with {rate} writes/s into each of {busy} busy tables ({len(put_done)} puts); load average "
          f"{os.getloadavg()[1]:.1f} over the last 5 min on {os.cpu_count()} CPUs")  # fmt: skip
    if latencies:
        print(f"shards: busy-shard sync latency p50 {percentile(latencies, 50) * 1000:.0f} ms, p99 "
              f"{percentile(latencies, 99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms (goal p99 <= 1000 ms); "
              f"{missing} of {len(put_done)} not committed within 15 s of the last put")  # fmt: skip
    else:
        print(f"shards: busy-shard sync latency: none of {len(put_done)} puts was committed")
    if caught_up_after >= warmup:
        print(f"shards: NOT every shard had caught up after {warmup} s: the figures are of a worker behind")
    print(f"shards: idle shards: {get_records_per_hour:,.0f} GetRecords an hour per shard (goal <= 900), "
          f"{idle_iterators * 3600 / span / max(idle, 1):,.0f} GetShardIterator; busy shards "
          f"{busy_get_records * 3600 / span / max(busy, 1):,.0f} GetRecords an hour each")  # fmt: skip
    print(f"shards: DescribeStream across {len(sources)} collections: mean {describe_mean:.2f}/s, highest 1 s "
          f"window {describe_peak} (Millrace aims at <= 5/s; DynamoDB Streams allows 10/s per account); during "
          f"start-up mean {startup_mean:.2f}/s, highest 1 s window {startup_peak}")  # fmt: skip
    if ticks:
        print(f"shards: supervisor tick: {len(ticks)} run in {span:.0f} s ({span / tick_seconds:.0f} due), "
              f"p50 {percentile(ticks, 50):.2f} s, max {max(ticks):.2f} s; at start-up max "
              f"{max(startup_ticks, default=0):.2f} s; {len(expired)} tasks expired unrun in the queue")  # fmt: skip
    else:
        print(f"shards: supervisor tick: none ran in {span:.0f} s ({len(expired)} expired unrun)")
    if late:
        print(f"shards: worker: read_shard started late vs its countdown by p50 {percentile(late, 50):.2f} s, "
              f"p99 {percentile(late, 99):.2f} s, max {max(late):.2f} s; slots busy "
              f"{busy_time / span / CONCURRENCY:.0%} of the time; tasks/s {sum(counts.values()) / span:.1f} "
              f"({dict(counts.most_common())}); "
              f"{len(queued_now)} read_shard runs queued without countdown; a run takes p50 "
              + ", ".join(f"{percentile(v, 50) * 1000:.0f} ms ({k})" for k, v in runs.items() if v))  # fmt: skip
    if depth:
        waiting = [d[0] for d in depth]
        held = [d[1] for d in depth]
        print(f"shards: queue depth (LLEN celery) mean {sum(waiting) / len(waiting):.1f}, max {max(waiting)}, "
              f"last {waiting[-1]}; held unacknowledged (countdowns) mean {sum(held) / len(held):.0f}, "
              f"max {max(held)}; worker {'still running' if alive else 'DIED (see ' + str(log) + ')'}")  # fmt: skip
    return {
        "p99": percentile(latencies, 99) if latencies else float("inf"),
        "get_records_per_hour": get_records_per_hour,
        "describe_peak": describe_peak,
        "tick_max": max(ticks, default=0.0),
    }
