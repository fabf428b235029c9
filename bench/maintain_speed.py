"""Issue #6 figures: what maintenance costs a write workload, measured in one run.

On sample data (default 100,000 students) with dead tuples, bloated indexes and an INVALID
index from a cancelled concurrent build, a rate-limited pgbench write workload on the
schema's own tables (UPDATE enrollments + upsert module_progress) runs in three phases:

  (a) no maintenance (the reference);
  (b) `watoto-schema maintain run` running during the workload;
  (c) plain blocking `REINDEX TABLE enrollments`, `REINDEX TABLE module_progress` and
      `VACUUM (ANALYZE)` running during the workload, after the same damage is redone.

Latency is taken from pgbench's per-transaction log and counted from each transaction's
*scheduled* start (pgbench -R), so a stall shows up in every transaction it delays, not
only in the few that were running. The application has a 5 s statement_timeout; failed =
transactions pgbench counts as failed plus clients it aborted on an error.

Target: (b) p99 within 2x of (a) and zero failed transactions; (c) stalls the writes.

    .venv/bin/python bench/maintain_speed.py [--students N] [--seconds S] [--rate TPS]
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from common import BIN, cluster, fresh_db

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
CLIENTS, THREADS = 4, 2

WORKLOAD = """\
\\set eid random(1, :max_eid)
\\set mid random(1, :max_mid)
\\set pct random(0, 100)
BEGIN;
UPDATE enrollments SET progress_percentage = :pct WHERE id = :eid;
INSERT INTO module_progress (enrollment_id, module_id, status, time_spent_minutes)
     VALUES (:eid, :mid, 'in_progress', 5)
ON CONFLICT (enrollment_id, module_id)
  DO UPDATE SET time_spent_minutes = module_progress.time_spent_minutes + 1,
                attempts = module_progress.attempts + 1;
END;
"""

BLOCKING = ["REINDEX TABLE enrollments", "REINDEX TABLE module_progress", "VACUUM (ANALYZE)"]


def cli_command() -> list[str]:
    return [str(BIN / "watoto-schema")]


def run(cmd: list[str], ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode not in ok:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd[-4:])}: "
                         f"{proc.stderr.strip()[-600:]}")
    return proc


def no_autovacuum(conn: psycopg.Connection[object]) -> None:
    """Only the phases under test do maintenance: keep autovacuum out of every phase."""
    for (name,) in conn.execute("SELECT oid::regclass::text FROM pg_class WHERE relkind = 'r' "
                                "AND relnamespace = 'public'::regnamespace").fetchall():
        conn.execute(f"ALTER TABLE {name} SET (autovacuum_enabled = false)")


def damage(url: str) -> None:
    """Dead tuples, bloated indexes and an INVALID index, as weeks of traffic would leave."""
    with psycopg.connect(url, autocommit=True) as conn:
        # Non-HOT updates: every index of enrollments gets a second entry per row.
        conn.execute("UPDATE enrollments SET progress_percentage = "
                     "least(progress_percentage + 1, 100)")
        conn.execute("UPDATE module_progress SET status = 'in_progress', "
                     "time_spent_minutes = time_spent_minutes + 1 WHERE id % 2 = 0")
        conn.execute("DELETE FROM assessment_submissions WHERE id % 3 = 0")
        conn.execute("ANALYZE")  # fresh statistics for the bloat estimate; dead tuples stay
        # A concurrent build that gave up waiting for an open writer: an INVALID index.
        conn.execute("DROP INDEX IF EXISTS idx_progress_score")
        with psycopg.connect(url, autocommit=True) as writer:
            writer.execute("BEGIN")
            writer.execute("UPDATE module_progress SET attempts = attempts WHERE id = 1")
            conn.execute("SET lock_timeout = '300ms'")
            with contextlib.suppress(psycopg.errors.LockNotAvailable):
                conn.execute("CREATE INDEX CONCURRENTLY idx_progress_score "
                             "ON module_progress (score)")
            conn.execute("RESET lock_timeout")
            writer.execute("ROLLBACK")
        row = conn.execute("SELECT indisvalid FROM pg_index "
                           "WHERE indexrelid = 'idx_progress_score'::regclass").fetchone()
        assert row == (False,), "expected an INVALID index"


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


@dataclass
class Phase:
    label: str
    transactions: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    late: int  # transactions that finished more than 1 s after their scheduled start
    failed: int
    window_transactions: int  # those in flight while the maintenance ran
    window_p99_ms: float
    note: str


def workload(url: str, prefix: str, seconds: int, rate: int, max_eid: int,
             max_mid: int, script: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PGOPTIONS": "-c statement_timeout=5s"}  # the application's limit
    return subprocess.Popen(
        [PGBENCH, "-n", "-f", str(script), "-c", str(CLIENTS), "-j", str(THREADS),
         "-T", str(seconds), "-R", str(rate), "-M", "prepared", "--log",
         f"--log-prefix={prefix}", "-D", f"max_eid={max_eid}", "-D", f"max_mid={max_mid}",
         url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def measure(label: str, bench: subprocess.Popen[str], prefix: str, note: str,
            window: tuple[float, float] | None) -> Phase:
    """Read pgbench's per-transaction logs: latency (from the scheduled start), failures."""
    out, err = bench.communicate()
    latencies: list[float] = []
    in_window: list[float] = []
    failed = 0
    for path in glob.glob(prefix + ".*"):
        for line in Path(path).read_text().splitlines():
            # client_id transaction_no time script_no time_epoch time_us [schedule_lag]
            fields = line.split()
            if len(fields) < 6:
                continue
            if not fields[2].isdigit():  # "failed" (serialization or deadlock) or "skipped"
                failed += 1
                continue
            latency = int(fields[2]) / 1000
            latencies.append(latency)
            finished = int(fields[4]) + int(fields[5]) / 1e6
            if window and finished >= window[0] and finished - latency / 1000 <= window[1]:
                in_window.append(latency)
    for line in out.splitlines():
        if line.startswith("number of failed transactions:"):
            failed = max(failed, int(line.split(":")[1].split()[0]))
    failed += err.count("aborted in command")  # a client stopped by an error (timeout)
    if not latencies:
        raise SystemExit(f"pgbench produced no transactions: {err.strip()[-600:]}")
    return Phase(label, len(latencies), statistics.median(latencies), p99(latencies),
                 max(latencies), sum(1 for v in latencies if v > 1000), failed,
                 len(in_window), p99(in_window), note)


def during(url: str, seconds: int, rate: int, ids: tuple[int, int], script: Path,
           folder: Path, label: str, key: str, action: Callable[[], str] | None) -> Phase:
    """One phase: the workload for ``seconds``, ``action`` started 2 s into it."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")  # no phase pays for the writes of the one before
    prefix = str(folder / key)
    bench = workload(url, prefix, seconds, rate, *ids, script)
    note, window = "", None
    if action is not None:
        time.sleep(2)  # let the workload settle first
        started = time.time()
        note = action()
        window = (started, time.time())
        note = f"{note} in {window[1] - started:.1f}s"
        if window[1] - started + 2 > seconds:
            note += " (longer than the workload: raise --seconds)"
    return measure(label, bench, prefix, note, window)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=None,
                        help="Length of each phase (default: 1 s per 2,000 students, at "
                        "least 30).")
    parser.add_argument("--rate", type=int, default=200, help="Target transactions/second.")
    parser.add_argument("--jobs", type=int, default=1,
                        help="maintain run --jobs (default 1: this bench shares its CPUs "
                        "with the server and pgbench).")
    args = parser.parse_args()
    seconds = args.seconds or max(30, args.students // 2_000)
    cli = cli_command()

    with tempfile.TemporaryDirectory(prefix="watoto-bench-maintain-") as tmp, cluster() as pg:
        folder = Path(tmp)  # the workload script and pgbench's per-transaction logs
        script = folder / "workload.sql"
        script.write_text(WORKLOAD)
        url = fresh_db(pg, "bench_maintain")
        setup = time.perf_counter()
        run([*cli, "--dsn", url, "migrate"])
        run([*cli, "--dsn", url, "sample-data", "--students", str(args.students)])
        with psycopg.connect(url, autocommit=True) as conn:
            no_autovacuum(conn)
            row = conn.execute("SELECT (SELECT max(id) FROM enrollment_keys), "
                               "(SELECT max(id) FROM course_modules)").fetchone()
            assert row is not None
            ids = (int(row[0]), int(row[1]))
        damage(url)
        print(f"{args.students:,} students loaded and damaged in "
              f"{time.perf_counter() - setup:.0f}s; pgbench -c {CLIENTS} -j {THREADS} "
              f"-R {args.rate} -T {seconds} per phase, statement_timeout 5s")

        thresholds = ["--bloat-min-mb", "0.5", "--index-bloat-ratio", "0.3"]
        planned = json.loads(run([*cli, "--dsn", url, "--json", "maintain", "plan",
                                  *thresholds], ok=(0, 2)).stdout)
        print("plan: " + "; ".join(f"{t['title']} ({t['findings'][0]['kind']})"
                                   for t in planned["tasks"]))

        baseline = during(url, seconds, args.rate, ids, script, folder,
                          "(a) no maintenance", "a", None)

        def maintain() -> str:
            summary = json.loads(run([*cli, "--dsn", url, "--json", "maintain", "run",
                                      "--jobs", str(args.jobs), *thresholds]).stdout)
            done = sum(op["status"] == "done" for op in summary["operations"])
            return f"maintain run --jobs {args.jobs}: {done} operations done"

        ours = during(url, seconds, args.rate, ids, script, folder,
                      "(b) watoto-schema maintain run", "b", maintain)

        damage(url)

        def blocking() -> str:
            with psycopg.connect(url, autocommit=True) as conn:
                for statement in BLOCKING:
                    conn.execute(statement)
            return " + ".join(BLOCKING)

        plain = during(url, seconds, args.rate, ids, script, folder,
                       "(c) REINDEX TABLE + VACUUM (blocking)", "c", blocking)

    print(f"{'phase':<38} {'txs':>6} {'p50 ms':>7} {'p99 ms':>8} {'max ms':>8} {'>1s':>4} "
          f"{'failed':>6} | {'txs':>5} {'p99 ms':>8}  vs (a) p99")
    print(f"{'':<38} {'(whole phase)':^46} | {'(while it ran)':^27}")
    for phase in (baseline, ours, plain):
        window = (f"{phase.window_transactions:>5} {phase.window_p99_ms:>8.2f}  "
                  f"{phase.window_p99_ms / baseline.p99_ms:6.2f}x"
                  if phase.window_transactions else f"{'':>5} {'':>8}  {'':>7}")
        print(f"{phase.label:<38} {phase.transactions:>6} {phase.p50_ms:>7.2f} "
              f"{phase.p99_ms:>8.2f} {phase.max_ms:>8.1f} {phase.late:>4} {phase.failed:>6} | "
              f"{window}")
        if phase.note:
            print(f"    {phase.note}")
    verdict = ours.window_p99_ms <= 2 * baseline.p99_ms and ours.failed == 0
    print(f"target (b): p99 while maintenance runs <= 2.00x (a) and 0 failed: "
          f"{'met' if verdict else 'NOT met'}; (c) stalls writes: p99 {plain.window_p99_ms:.0f} "
          f"ms while it ran, max {plain.max_ms:.0f} ms")


if __name__ == "__main__":
    main()
