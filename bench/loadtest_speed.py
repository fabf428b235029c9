"""Issue #13 figures: `watoto-schema loadtest` at national scale, on this machine.

* p95 per class (reads, writes, reports) at 100,000 students (and 1,000,000 with
  WATOTO_BENCH_1M=1), 50 clients, against the design's targets (10 / 50 / 500 ms) and
  ours (1 / 5 / 50 ms);
* the 1,000,000-student load time and its ratio to a bare COPY of the same rows (1M only);
* loadtest's own overhead: the whole `watoto-schema loadtest` process against raw pgbench
  with the same rendered scripts, parameters and duration (target <= 1.1x);
* 1,000 clients through PgBouncer (transaction pooling) against 50 clients direct.

    make bench   # or: .venv/bin/python bench/loadtest_speed.py
    WATOTO_BENCH_SECONDS=60      # seconds per load-test run (default 30)
    WATOTO_BENCH_1M=1            # adds the 1,000,000-student part (minutes of both cores)
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from common import BIN, cluster, sample_db
from sample_data_speed import bare_copy_seconds

from watoto_schema import loadtest
from watoto_schema.loadtest.pgbench import connection_environment
from watoto_schema.loadtest.scripts import parameters, render, weights
from watoto_schema.local import LocalCluster, pgbouncer

SECONDS = int(os.environ.get("WATOTO_BENCH_SECONDS", "30"))


def run_loadtest(url: str, clients: int, jobs: int = 4) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    proc = subprocess.run([str(BIN / "watoto-schema"), "--dsn", url, "loadtest", "--clients",
                           str(clients), "--jobs", str(jobs), "--duration", str(SECONDS),
                           "--json"], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 2):
        raise SystemExit(f"loadtest failed: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout), elapsed


def raw_pgbench(url: str, clients: int, jobs: int = 4,
                protocol: str = "prepared") -> tuple[float, int]:
    """pgbench alone with the same scripts, weights, parameters and protocol (loadtest's
    default on a direct connection): (seconds, transactions)."""
    with psycopg.connect(url, autocommit=True) as conn:
        variables, lists = parameters(conn)
    chosen = weights({})
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        scripts = render(work, list(chosen), lists)
        (work / "log").mkdir()
        command = loadtest.pgbench_command(
            loadtest.LoadtestOptions(clients=clients, jobs=jobs, duration=SECONDS,
                                     protocol=protocol), scripts,
            chosen, variables, work / "log")
        command = [part for part in command if part != "--log"
                   and not part.startswith("--log-prefix")]
        started = time.perf_counter()
        proc = subprocess.run(command, env=connection_environment(url), capture_output=True,
                              text=True)
        elapsed = time.perf_counter() - started
    processed = next((int(line.split(":")[1]) for line in proc.stdout.splitlines()
                      if line.startswith("number of transactions actually processed")), 0)
    return elapsed, processed


def p95_table(label: str, doc: dict[str, Any]) -> None:
    print(f"  {label}: {doc['total']['transactions']:,} transactions, "
          f"{doc['total']['tps']:,.0f} tps, failures {doc['total']['failures']}")
    for item in doc["classes"]:
        p95 = item["stats"]["p95_ms"]
        print(f"    {item['kind']:<7} p95 {p95 if p95 is not None else float('nan'):8.2f} ms   "
              f"design {item['design_target_ms']:>5g} ms "
              f"{'met' if item['meets_design'] else 'MISSED':<6}  ours "
              f"{item['our_target_ms']:>4g} ms {'met' if item['meets_ours'] else 'MISSED'}")


def scale(pg: LocalCluster, students: int) -> str:
    url, seconds = sample_db(pg, f"bench_load_{students}", students)
    line = f"sample-data --students {students:,}: {seconds:.1f} s"
    if students >= 1_000_000:
        bare, counts = bare_copy_seconds(url)
        line += (f" for {sum(counts.values()):,} rows; bare COPY {bare:.1f} s: "
                 f"{seconds / bare:.2f}x (target < 5x; < 600 s "
                 f"{'met' if seconds < 600 else 'MISSED'})")
    print(line)
    return url


def main() -> None:
    print(f"loadtest, {SECONDS} s per run, {os.cpu_count()} cores")
    with cluster() as pg:
        sizes = [100_000] + ([1_000_000] if os.environ.get("WATOTO_BENCH_1M") else [])
        for students in sizes:
            url = scale(pg, students)
            doc, ours = run_loadtest(url, 50)
            p95_table(f"{students:,} students, 50 clients direct", doc)
            if students != sizes[0]:
                continue
            raw, raw_tx = raw_pgbench(url, 50)
            done = doc["total"]["transactions"]
            print(f"  overhead: watoto-schema loadtest {ours:.1f} s ({done:,} "
                  f"tx) vs raw pgbench {raw:.1f} s ({raw_tx:,} tx), same scripts: "
                  f"{ours / raw:.2f}x (target <= 1.1x "
                  f"{'met' if ours / raw <= 1.1 else 'MISSED'})")
            pooler = pgbouncer.start(pg)
            try:
                assert pooler.url is not None
                via = pooler.url.replace("/watoto?", f"/bench_load_{students}?")
                pooled, _ = run_loadtest(via, 1000, jobs=4)
                p95_table(f"{students:,} students, 1,000 clients through PgBouncer "
                          f"(pool of {pooler.pool_size})", pooled)
            finally:
                pgbouncer.stop(pg)


if __name__ == "__main__":
    main()
