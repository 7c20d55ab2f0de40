"""Soak: `make run`'s real processes under steady traffic, with collections coming and going.

The launcher (`manage.py serve`: web, Celery worker and beat on the embedded SQLite broker, and the AWS
sandbox) runs on free ports in a var/ folder of its own, with the sandbox's own traffic generator off:
this test writes to `orders` itself (puts, updates, deletes, a few a second) so that it can stop. Through
the REST API it makes an integration, a Table Scan collection and an Export collection of `orders`, and
every `MILLRACE_SOAK_CHURN_SECONDS` a third collection that is deleted again at the next turn. It looks at
every collection every few seconds. It fails when

- a launcher child died (the launcher says "… exited with code …; restarting it");
- a collection that reached live sync is, for longer than a grace of a few ticks, neither within the lag
  bound (`stream_lag_ms` ≤ 60 s) nor saying why (`stalled`, or an error in `status.message`);
- once the writes stop, the documents of every remaining collection (read from the launcher's SQLite
  file) do not become equal to the table within a bounded wait; or a deleted collection is still written.

Short form (`make test`): `MILLRACE_SOAK_SECONDS` (120) of traffic from the collections' creation. Long
form, beside CPU hogs: `MILLRACE_SOAK_SECONDS=1800 MILLRACE_SOAK_HOGS=2 .venv/bin/python -m pytest
tests/e2e/test_soak.py -s`. Nothing measures speed: every wait is a generous deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from console.processes import descendants, kill_group, popen_bound, wait_gone
from console.sandbox.seed import ORDER_STATUSES, ORDERS, order_item
from ingest import convert

pytestmark = [pytest.mark.e2e, pytest.mark.soak]

ROOT = Path(__file__).resolve().parents[2]
SOAK_SECONDS = float(os.environ.get("MILLRACE_SOAK_SECONDS", 120))
HOGS = int(os.environ.get("MILLRACE_SOAK_HOGS", 0))
CHURN_SECONDS = float(os.environ.get("MILLRACE_SOAK_CHURN_SECONDS", max(40.0, min(180.0, SOAK_SECONDS / 10))))
WRITES_PER_SECOND = float(os.environ.get("MILLRACE_SOAK_WRITES_PER_SECOND", 4))
ORDERS_SEEDED = 300
LAG_BOUND_MS = 60_000  # ingest.timing.STALL_SECONDS: beyond it, the source must say why
GRACE = 30.0  # a few ticks (5 s each) for the supervisor to notice and say so
LOOK_EVERY = 3.0
STARTUP = 240.0  # a loaded 2-CPU machine starts Django, Celery and moto slowly
LIVE_WITHIN = 900.0  # the two collections reach live sync within this after creation
SETTLE_WITHIN = 600.0  # once the writes stop, the documents equal the table within this
DELETED_QUIET_AFTER = 60.0  # no document written into a deleted collection this long after its deletion
API_SILENT = 180.0  # the web server answers at least once in this long
ROLE = "arn:aws:iam::123456789012:role/millrace-sandbox"
BUCKET = "millrace-exports"
RESTART = re.compile(r"launcher \| (\S+) exited with code (-?\d+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stamp(started: float) -> str:
    return f"[{time.monotonic() - started:7.1f} s]"


# The launcher and its processes -----------------------------------------------------------------------


def child_env(var: Path) -> dict[str, str]:
    """The environment `make run` would have: SQLite and the embedded broker in `var`, no AWS identity of
    our own (the console uses the sandbox's keys), the sandbox small and quiet."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "MILLRACE_AWS_ENDPOINT_URL", "DEBUG"):
        env.pop(name, None)
    env.update(
        MILLRACE_VAR_DIR=str(var),
        MILLRACE_SANDBOX_ORDERS=str(ORDERS_SEEDED),
        MILLRACE_SANDBOX_WRITES_PER_SECOND="0",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def manage(var: Path, *args: str, **extra_env: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**child_env(var), **extra_env},
        capture_output=True,
        text=True,
        timeout=STARTUP,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@dataclass
class Launcher:
    process: subprocess.Popen
    log: Path
    port: int
    sandbox_port: int
    var: Path
    read_to: int = 0
    deaths: list[str] = field(default_factory=list)

    def tail(self, lines: int = 150) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return f"--- the launcher's output ({self.log}), last {lines} lines ---\n" + "\n".join(text[-lines:])

    def new_deaths(self) -> list[str]:
        """Lines saying a child died, written since the last call."""
        with open(self.log, "rb") as log:
            log.seek(self.read_to)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.read_to += len(complete)
        found = [line for line in complete.decode(errors="replace").splitlines() if RESTART.search(line)]
        self.deaths += found
        return found


@contextlib.contextmanager
def launcher(var: Path) -> Iterator[Launcher]:
    port, sandbox_port = free_port(), free_port()
    log = var / "launcher.log"
    with open(log, "wb") as output:
        process = popen_bound(
            [sys.executable, "manage.py", "serve", "--port", str(port), "--sandbox-port", str(sandbox_port)],
            cwd=ROOT, env=child_env(var), stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    running = Launcher(process, log, port, sandbox_port, var)
    try:
        deadline = time.monotonic() + STARTUP
        while "Millrace is running" not in log.read_text(errors="replace"):
            assert process.poll() is None, f"the launcher exited with code {process.returncode}\n{running.tail()}"
            assert time.monotonic() < deadline, f"the launcher did not start within {STARTUP:g} s\n{running.tail()}"
            time.sleep(0.5)
        yield running
    finally:
        family = descendants(process.pid)
        if process.poll() is None:  # as Ctrl-C would: each child is stopped in order, the sandbox last
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=40)
        kill_group(process)
        for pid in wait_gone(family, 15):  # never leave one behind, whatever happened
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def cpu_hogs(count: int) -> Iterator[list[subprocess.Popen]]:
    hogs = [popen_bound(["python3", "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield hogs
    finally:
        for hog in hogs:
            kill_group(hog)


# The REST API -----------------------------------------------------------------------------------------


class ApiError(Exception):
    pass


@dataclass
class Api:
    base: str
    key: str
    failures: int = 0

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 120) -> Any:
        request = urllib.request.Request(
            f"{self.base}/v1/orgs/self{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"ApiKey {self.key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise ApiError(f"{method} {path}: HTTP {exc.code} {exc.read().decode(errors='replace')}") from exc
        except OSError as exc:
            self.failures += 1
            raise ApiError(f"{method} {path}: {exc!r}") from exc

    def collections(self) -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in self.call("GET", "/collections", timeout=60)["data"]}

    def create_collection(self, name: str, **dynamodb: Any) -> None:
        source = {"table_name": ORDERS, "aws_region": "us-east-1", **dynamodb}
        body = {"name": name, "sources": [{"integration_name": "sandbox", "dynamodb": source}]}
        try:
            self.call("POST", "/ws/commons/collections", body)
        except ApiError:  # a slow answer may still have created it
            if name not in self.collections():
                raise

    def delete_collection(self, name: str) -> None:
        try:
            answer = self.call("DELETE", f"/ws/commons/collections/{name}")["data"]
            assert answer["status"] == "DELETED", answer
        except ApiError:
            if name in self.collections():
                raise


# The table's traffic ----------------------------------------------------------------------------------


def sandbox_dynamodb(launcher: Launcher) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{launcher.sandbox_port}",
        region_name="us-east-1",
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
        config=Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"}),
    )


class Traffic(threading.Thread):
    """Puts of new orders, updates (plain, nested, removing an attribute) and deletes, a few a second."""

    def __init__(self, dynamodb: Any, writes_per_second: float) -> None:
        super().__init__(daemon=True)
        self.dynamodb, self.pause = dynamodb, 1.0 / writes_per_second
        self.stop = threading.Event()
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []

    def run(self) -> None:
        rng = random.Random(12)
        next_id, made = 800_000, []
        while not self.stop.wait(self.pause):
            roll = rng.random()
            key = {"order_id": {"S": f"ord-{rng.randrange(1, ORDERS_SEEDED + 1):06d}"}}
            try:
                if roll < 0.3 or not made:
                    next_id += 1
                    self.dynamodb.put_item(TableName=ORDERS, Item=order_item(next_id, rng))
                    made.append(f"ord-{next_id:06d}")
                    kind = "put"
                elif roll < 0.75:
                    self.dynamodb.update_item(
                        TableName=ORDERS, Key=key, ConditionExpression="attribute_exists(order_id)",
                        UpdateExpression="SET #s = :s, quantity = :q, ledger_total = :t",
                        ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues={
                            ":s": {"S": rng.choice(ORDER_STATUSES)}, ":q": {"N": str(rng.randrange(1, 20))},
                            ":t": {"N": f"{rng.randrange(10**19, 10**20)}.{rng.randrange(10**17, 10**18)}"},
                        },
                    )  # fmt: skip
                    kind = "update"
                elif roll < 0.85:
                    self.dynamodb.update_item(
                        TableName=ORDERS, Key=key, ConditionExpression="attribute_exists(order_id)",
                        UpdateExpression="SET shipping.eta_days = :e, notes = :n REMOVE coupon",
                        ExpressionAttributeValues={":e": {"N": str(rng.randrange(1, 9))}, ":n": {"S": ""}},
                    )  # fmt: skip
                    kind = "nested update"
                else:
                    target = made.pop(rng.randrange(len(made))) if rng.random() < 0.8 else key["order_id"]["S"]
                    self.dynamodb.delete_item(TableName=ORDERS, Key={"order_id": {"S": target}})
                    kind = "delete"
                self.counts[kind] += 1
            except self.dynamodb.exceptions.ConditionalCheckFailedException:
                self.counts["refused (deleted order)"] += 1
            except Exception as exc:  # the sandbox's deaths show in the launcher's log; keep writing
                self.counts["error"] += 1
                self.errors.append(repr(exc)[:300])


def table_documents(dynamodb: Any) -> dict[str, Any]:
    documents = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=ORDERS, ConsistentRead=True):
        for raw in page["Items"]:
            documents[convert.document_id(raw, ["order_id"])] = convert.item_to_document(raw)
    return documents


# The launcher's database, read only -------------------------------------------------------------------


@contextlib.contextmanager
def database(var: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(f"file:{var / 'millrace.sqlite3'}?mode=ro", uri=True, timeout=60)
    try:
        yield connection
    finally:
        connection.close()


def collection_rows(var: Path) -> dict[str, tuple[int, str, int]]:
    """name → (id, status, doc_count) of every collection, deleted ones too."""
    with database(var) as db:
        rows = db.execute("SELECT name, id, status, doc_count FROM collections_app_collection").fetchall()
    return {name: (pk, status, docs) for name, pk, status, docs in rows}


def stored_documents(var: Path, collection_id: int) -> dict[str, Any]:
    with database(var) as db:
        rows = db.execute("SELECT doc_id, body FROM collections_app_document WHERE collection_id = ?", (collection_id,))
        return {doc_id: json.loads(body, cls=convert.ExactJSONDecoder) for doc_id, body in rows.fetchall()}


def difference(expected: dict[str, Any], actual: dict[str, Any], doc_count: int) -> str:
    """Empty when the collection equals the table; otherwise what differs, in a line."""
    missing, extra = sorted(expected.keys() - actual.keys()), sorted(actual.keys() - expected.keys())
    different = sorted(k for k in expected.keys() & actual.keys() if expected[k] != actual[k])
    if not (missing or extra or different) and doc_count == len(expected):
        return ""
    text = f"{len(missing)} missing {missing[:5]}, {len(extra)} extra {extra[:5]}, {len(different)} different"
    if different:
        k = different[0]
        text += f" (e.g. {k}: table {convert.dumps(expected[k])} != collection {convert.dumps(actual[k])})"
    return text + f"; doc_count {doc_count}, table {len(expected)} items"


# What the soak saw --------------------------------------------------------------------------------------


@dataclass
class Watch:
    """One collection as seen through the API over time."""

    name: str
    created: float
    live_at: float | None = None
    unexplained_since: float | None = None
    reported: bool = False
    max_lag_ms: int = 0
    looks: int = 0
    said: str = ""  # the last state/stall/message printed, to print changes only
    stalls: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)

    def look(self, collection: dict[str, Any] | None, now: float, started: float) -> None:
        self.looks += 1
        if collection is None:
            what, explained, lag = "missing from the API's list", False, None
        else:
            source = collection["sources"][0]
            current = source["dynamodb"]["current_status"]
            lag, stalled, state = current.get("stream_lag_ms"), current.get("stalled"), current["state"]
            message = source["status"].get("message")
            if stalled:
                self.stalls[re.sub(r"\d+ (h|min|s)\b", r"N \1", stalled)] += 1  # one entry per kind of stall
            within = state == "PROCESSING_STREAM" and lag is not None and lag <= LAG_BOUND_MS
            if within and self.live_at is None:
                self.live_at = now
            if self.live_at is not None and lag is not None:
                self.max_lag_ms = max(self.max_lag_ms, lag)
            explained = within or bool(stalled) or bool(message)
            what = (
                f"{collection['status']} {state} {current['initial_dump_completion_percentage']}% "
                f"lag={lag} docs={collection['stats']['doc_count']} stalled={stalled!r} message={message!r}"
            )
            said = f"{collection['status']} {state} stalled={bool(stalled)} message={message!r}"
            if said != self.said:
                print(f"{stamp(started)} {self.name}: {what}", flush=True)
                self.said = said
        if self.live_at is None or explained:
            self.unexplained_since, self.reported = None, False
            return
        if self.unexplained_since is None:
            self.unexplained_since = now
            print(f"{stamp(started)} {self.name}: beyond the lag bound without a reason: {what}", flush=True)
        elif now - self.unexplained_since > GRACE and not self.reported:
            self.reported = True
            self.violations.append(
                f"{stamp(started)} {self.name}: for {now - self.unexplained_since:.0f} s beyond the lag bound "
                f"({LAG_BOUND_MS} ms) without a reason: {what}"
            )


@dataclass
class Deleted:
    """Deleted collections: once DELETED_QUIET_AFTER has passed, their document count must stay put."""

    var: Path
    deleted_at: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, name: str) -> int:
        with database(self.var) as db:
            query = "SELECT count(*) FROM collections_app_document WHERE collection_id = (SELECT id FROM "
            return db.execute(query + "collections_app_collection WHERE name = ?)", (name,)).fetchone()[0]

    def note(self) -> None:
        for name, when in self.deleted_at.items():
            if name not in self.counts and time.monotonic() - when >= DELETED_QUIET_AFTER:
                self.counts[name] = self.count(name)

    def written_after_deletion(self) -> list[str]:
        return [
            f"{name} was deleted but its documents went from {before} to {after} after that"
            for name, before in self.counts.items()
            if (after := self.count(name)) != before
        ]


def soak(running: Launcher, var: Path, key: str, started: float) -> list[str]:
    """Traffic, collections and looks; then the documents compared. Returns what went wrong."""
    print(f"{stamp(started)} the launcher is up: web on {running.port}, sandbox on {running.sandbox_port}")
    failures: list[str] = []
    api = Api(f"http://127.0.0.1:{running.port}", key)
    dynamodb = sandbox_dynamodb(running)
    traffic = Traffic(dynamodb, WRITES_PER_SECOND)
    try:
        traffic.start()
        api.call("POST", "/integrations", {
            "name": "sandbox", "dynamodb": {"aws_role": {"aws_role_arn": ROLE}, "s3_export_bucket_name": BUCKET},
        })  # fmt: skip
        watches = {"soak_scan": Watch("soak_scan", time.monotonic())}
        api.create_collection("soak_scan", use_scan_api=True, rcu=50)
        watches["soak_export"] = Watch("soak_export", time.monotonic())
        api.create_collection("soak_export", use_scan_api=False)
        churned, gone, deleted = 0, [], Deleted(var)
        churn: str | None = None
        next_churn = time.monotonic() + CHURN_SECONDS / 2
        soak_end = time.monotonic() + SOAK_SECONDS
        last_answer = time.monotonic()

        while time.monotonic() < soak_end:
            assert running.process.poll() is None, "the launcher itself exited"
            for line in running.new_deaths():
                print(f"{stamp(started)} !! {line}", flush=True)
            now = time.monotonic()
            try:
                seen = api.collections()
                last_answer = now
            except ApiError as exc:
                print(f"{stamp(started)} the API did not answer: {exc}", flush=True)
                assert now - last_answer < API_SILENT, f"the API did not answer for {API_SILENT:g} s"
                time.sleep(LOOK_EVERY)
                continue
            for name, watch in watches.items():
                watch.look(seen.get(name), now, started)
            if now >= next_churn:  # delete the last churn collection, make the next one
                if churn:
                    api.delete_collection(churn)
                    deleted.deleted_at[churn] = time.monotonic()
                    gone.append(watches.pop(churn))
                churned += 1
                churn = f"soak_churn_{churned}"
                watches[churn] = Watch(churn, time.monotonic())
                api.create_collection(churn, use_scan_api=churned % 2 == 1, **({"rcu": 40} if churned % 2 else {}))
                print(f"{stamp(started)} churn: made {churn}", flush=True)
                next_churn = time.monotonic() + CHURN_SECONDS
            deleted.note()
            for name in ("soak_scan", "soak_export"):
                waited = now - watches[name].created
                if watches[name].live_at is None and waited > LIVE_WITHIN:
                    failures.append(f"{name} did not reach live sync within {LIVE_WITHIN:g} s")
            if failures:
                break
            time.sleep(LOOK_EVERY)
    finally:
        traffic.stop.set()
        traffic.join(timeout=120)
    print(f"{stamp(started)} writes stopped: {dict(traffic.counts)}", flush=True)

    # The end: every remaining collection equals the table within a bounded wait; deleted ones stay put.
    settle_end = time.monotonic() + SETTLE_WITHIN
    while True:
        for line in running.new_deaths():
            print(f"{stamp(started)} !! {line}", flush=True)
        expected = table_documents(dynamodb)
        rows = collection_rows(var)
        remaining = {name: row for name, row in rows.items() if row[1] != "DELETED"}
        differences = {
            name: difference(expected, stored_documents(var, pk), docs) for name, (pk, _, docs) in remaining.items()
        }
        unequal = {name: text for name, text in differences.items() if text}
        deleted.note()
        if not unequal:
            break
        if time.monotonic() > settle_end:
            failures += [f"{name} differs from the table: {text}" for name, text in unequal.items()]
            break
        time.sleep(5)
    print(f"{stamp(started)} compared {sorted(remaining)} with the table's {len(expected)} items: "
          f"{'equal' if not unequal else 'DIFFERENT'}", flush=True)  # fmt: skip
    failures += deleted.written_after_deletion()
    print(f"{stamp(started)} {len(deleted.counts)} deleted collections checked for writes after deletion")
    with contextlib.suppress(ApiError):
        for name, collection in api.collections().items():
            print(f"  {name}: {json.dumps(collection['sources'][0]['dynamodb']['current_status'])}")
    running.new_deaths()

    log_lines = running.log.read_text(errors="replace").splitlines()
    errors = [line for line in log_lines if re.search(r"\bERROR\b|Traceback|CRITICAL", line)]
    print(f"{stamp(started)} summary: {churned} churn collections, {api.failures} unanswered API calls, "
          f"{len(traffic.errors)} write errors {traffic.errors[:3]}, {len(errors)} ERROR/Traceback lines "
          f"in the launcher's output")  # fmt: skip
    for line in errors[:10]:
        print(f"  | {line}")
    for watch in [*watches.values(), *gone]:
        live = f"live after {watch.live_at - watch.created:.0f} s" if watch.live_at else "never live"
        print(f"  {watch.name}: {live}, {watch.looks} looks, highest lag once live {watch.max_lag_ms} ms, "
              f"stalls seen {dict(watch.stalls)}")  # fmt: skip
        failures += watch.violations
    failures += [f"a launcher child died: {line}" for line in running.deaths]
    return failures


def test_soak_make_run_with_traffic_and_collection_churn(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.mkdir()
    started = time.monotonic()
    print(f"\nsoak: {SOAK_SECONDS:g} s of traffic, a collection made and deleted every {CHURN_SECONDS:g} s, "
          f"{HOGS} CPU hogs; var/ is {var}", flush=True)  # fmt: skip
    with cpu_hogs(HOGS):  # killed at the end, whatever happens (and with this process if it is killed)
        manage(var, "migrate", "--noinput", "-v0")
        key = manage(
            var, "bootstrap", "--username", "soak", "--email", "soak@example.com", "--organisation", "Soak",
            MILLRACE_ADMIN_PASSWORD=secrets.token_urlsafe(16),
        ).strip().splitlines()[-1]  # fmt: skip
        with launcher(var) as running:
            try:
                failures = soak(running, var, key, started)
            except BaseException:
                print(running.tail(), flush=True)
                raise
            assert not failures, "\n".join(failures) + "\n" + running.tail()
