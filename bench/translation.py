"""Translation time per query (Rockset SQL → PostgreSQL and SQLite) over the conformance suites' queries;
the issue's goal is a p99 of 2 ms or less. Cold: each text parsed afresh (the parse cache emptied first);
warm: the text seen before (a dashboard's or a Query Lambda's repeat). The resolver answers from memory, so
only translation is timed. Timed twice: CPU time (the thread's own, what a translation costs) and wall time
(what a caller waits, whose tail on a loaded machine is the scheduler's: the load is printed with it)."""

from __future__ import annotations

import os
import statistics
import time

from queries import dialect
from queries.translate import translate, typed_parameter

ROUNDS = 20


def queries() -> list[str]:
    from tests.queries import test_conformance, test_functions, test_relations

    return [sql for module in (test_conformance, test_functions, test_relations) for sql, _ in module.CASES]


def timed(sqls: list[str], vendor: str, *, cold: bool) -> tuple[list[float], list[float]]:
    parameters = {"s": typed_parameter("s", "string", "pending")}
    cpu, wall = [], []
    for _ in range(ROUNDS):
        for sql in sqls:
            if cold:
                dialect._parsed.cache_clear()
            started, started_cpu = time.perf_counter(), time.thread_time()
            translate(sql, vendor=vendor, resolve=lambda workspace, name: 1, parameters=parameters)
            cpu.append((time.thread_time() - started_cpu) * 1000)
            wall.append((time.perf_counter() - started) * 1000)
    return sorted(cpu), sorted(wall)


def main() -> None:
    sqls = queries()
    print(f"Translation, {len(sqls)} queries × {ROUNDS} rounds; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs (goal: p99 ≤ 2 ms)")  # fmt: skip
    for vendor in ("postgresql", "sqlite"):
        for cold in (True, False):
            cpu, wall = timed(sqls, vendor, cold=cold)
            p99 = int(len(cpu) * 0.99)
            print(
                f"  {vendor:10} {'cold' if cold else 'warm'}: CPU median {statistics.median(cpu):.3f} ms, "
                f"p99 {cpu[p99]:.3f} ms; wall median {statistics.median(wall):.3f} ms, p99 {wall[p99]:.3f} ms"
            )
