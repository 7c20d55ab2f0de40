"""The embedded Celery broker under load: kombu's filesystem transport against SQLite (the default).

    .venv/bin/python bench/broker.py [--messages 20000] [--producers 4] [--rate 150] [--hogs 2]
                                     [--transports filesystem,sqlite]

For each transport: two CPU hogs run (`while True: pass`, as on a busy 2-CPU machine), several producer
processes send small tasks at a steady rate (as web, beat and tasks themselves do), and a real Celery
worker configured as `make run`'s (console/settings.py: concurrency 4, acks_late, prefetch 1) runs them.
Every task appends its number to a file; at the end we count what was lost, run twice or arrived
corrupt (decode errors in the worker's log), how often the worker died (it is restarted, as the launcher
does), and the throughput. Prints a table; asserts nothing. Not part of `make test` or `make bench`: it
takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from celery import Celery  # noqa: E402

from console.processes import kill_group, popen_bound, stop_group  # noqa: E402

PAD = "x" * 200  # a small task's arguments, about the size of ours
# What a corrupt or unreadable message looks like in a worker's log.
CORRUPT = re.compile(r"JSONDecodeError|Can't decode message body|ContentDisallowed|Received invalid|DecodeError")

# The worker and the producers take Millrace's own Celery settings (broker URL from the environment).
app = Celery("bench-broker", set_as_current=False)
app.config_from_object("console.settings", namespace="CELERY")
app.conf.beat_schedule = {}


@app.task(name="bench.record")
def record(number: int, pad: str) -> None:
    """One line per run, appended by one write() to a file of this process's own: nothing to race."""
    fd = os.open(
        Path(os.environ["BENCH_BROKER_RESULTS"]) / f"{os.getpid()}.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT
    )
    try:
        os.write(fd, f"{number}\n".encode())
    finally:
        os.close(fd)


def produce(start: int, count: int, rate: float) -> None:
    """Send `count` tasks at `rate` a second; print how many sends failed (a send that raises is a message
    the caller knows it lost). Paced, not as fast as possible: a queue that keeps a backlog of thousands
    hides the race we look for (a reader opening a message its writer is still writing)."""
    failed = 0
    began = time.monotonic()
    for k, number in enumerate(range(start, start + count)):
        delay = began + k / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            record.apply_async(args=[number, PAD])
        except Exception as error:  # noqa: BLE001 - counted, and the first one shown
            if not failed:
                print(f"send failed: {error!r}", file=sys.stderr)
            failed += 1
    print(json.dumps({"failed": failed}))


def received(results: Path) -> list[int]:
    numbers: list[int] = []
    for path in results.glob("*.txt"):
        numbers += [int(line) for line in path.read_text().split()]
    return numbers


def run(
    transport: str, messages: int, producers: int, rate: float, var: Path, idle_timeout: float
) -> dict[str, float | int]:
    folder = var / transport
    shutil.rmtree(folder, ignore_errors=True)
    results = folder / "results"
    results.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    env.update(MILLRACE_VAR_DIR=str(folder), BENCH_BROKER_RESULTS=str(results), PYTHONUNBUFFERED="1")
    if transport == "filesystem":
        env["CELERY_BROKER_URL"] = "filesystem://"
    worker_command = [sys.executable, "-m", "celery", "-A", "bench.broker", "worker", "-l", "warning",
                      "--concurrency", "4", "--without-gossip", "--without-mingle", "--without-heartbeat",
                      "-n", f"bench-{transport}@%h"]  # fmt: skip
    log = open(folder / "worker.log", "a")  # noqa: SIM115 - closed below
    crashes = 0

    def start_worker() -> subprocess.Popen:
        return popen_bound(worker_command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    worker = start_worker()
    per_producer = messages // producers
    began = time.monotonic()
    senders = [
        popen_bound(
            [sys.executable, __file__, "produce", str(i * per_producer), str(per_producer), str(rate / producers)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(producers)
    ]
    total = per_producer * producers
    seen, last_change, last_arrival = 0, time.monotonic(), began
    try:
        while True:
            time.sleep(1)
            if worker.poll() is not None:
                crashes += 1
                print(f"  {transport}: worker exited with code {worker.returncode}; restarting it", flush=True)
                worker = start_worker()
            count = sum(path.read_bytes().count(b"\n") for path in results.glob("*.txt"))
            if count != seen:
                seen, last_change, last_arrival = count, time.monotonic(), time.monotonic()
            sending = any(sender.poll() is None for sender in senders)
            if count >= total and not sending:
                time.sleep(3)  # let a late duplicate show up
                break
            if not sending and time.monotonic() - last_change > idle_timeout:
                break
    finally:
        stop_group(worker, grace=20)
        for sender in senders:
            if sender.poll() is None:
                kill_group(sender)
        log.close()
    send_failed = 0
    for sender in senders:
        out = sender.stdout.read() if sender.stdout else ""
        send_failed += json.loads(out.strip().splitlines()[-1])["failed"] if out.strip() else per_producer
    numbers = received(results)
    unique = set(numbers)
    corrupt = len(CORRUPT.findall((folder / "worker.log").read_text(errors="replace")))
    seconds = last_arrival - began
    return {
        "sent": total - send_failed,
        "send errors": send_failed,
        "received": len(unique),
        "lost": total - send_failed - len(unique & set(range(total))),
        "duplicated": len(numbers) - len(unique),
        "corrupt": corrupt,
        "worker crashes": crashes,
        "seconds": round(seconds, 1),
        "tasks/s": round(len(unique) / seconds, 1) if seconds > 0 else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=150, help="tasks a second, all producers together")
    parser.add_argument("--hogs", type=int, default=2, help="CPU-bound processes running beside it")
    parser.add_argument("--transports", default="filesystem,sqlite")
    parser.add_argument("--idle-timeout", type=float, default=60, help="give up after this long with no arrival")
    options = parser.parse_args()
    var = ROOT / "var" / "bench-broker"
    hogs = [popen_bound([sys.executable, "-c", "while True: pass"]) for _ in range(options.hogs)]
    figures: dict[str, dict[str, float | int]] = {}
    try:
        for transport in options.transports.split(","):
            print(
                f"== {transport}: {options.messages} tasks, {options.producers} producers at {options.rate:g}/s "
                f"together, {options.hogs} CPU hogs"
            )
            figures[transport] = run(
                transport, options.messages, options.producers, options.rate, var, options.idle_timeout
            )
            print(f"  {figures[transport]}", flush=True)
    finally:
        for hog in hogs:
            kill_group(hog)
    columns = list(next(iter(figures.values())))
    print("\n| transport | " + " | ".join(columns) + " |")
    print("| --- " * (len(columns) + 1) + "|")
    for transport, row in figures.items():
        print(f"| {transport} | " + " | ".join(str(row[c]) for c in columns) + " |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["produce"]:
        produce(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    else:
        main()
