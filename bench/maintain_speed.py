"""Issues #6 and #21 figures: what `maintain run` costs the application, measured in one run.

On sample data (default 100,000 students) with dead tuples, bloated indexes and an INVALID
index from a cancelled concurrent build, the LMS mix of `watoto-schema loadtest` (the
scripts of sql/loadtest with their default weights: reads, writes, reports) runs at a fixed
arrival rate (pgbench --rate) in phases, repeated --rounds times:

  (a) no maintenance (the reference, per class);
  (b) `maintain run` without pacing (`--pause-above off`: the behaviour before #21);
  (c) `maintain run` with its defaults (paced: cost-based vacuum delay, one job, the latency
      guard pausing between operations while the probe's latency is above its threshold);
  (d) with --blocking: plain `REINDEX TABLE` + `VACUUM (ANALYZE)`, which stall the writes.

The damage is redone before each maintenance phase. Latency is pgbench's per-transaction
log, counted from each transaction's *scheduled* start, so a stall shows up in every
transaction it delays. The application has a 5 s statement_timeout. The ratio is, per class,
the p99 of the transactions in flight while the maintenance ran over the p99 of the same
class in (a) of the same round; medians over the rounds. Target: <= 2x, 0 failed.

    .venv/bin/python bench/maintain_speed.py [--students N] [--seconds S] [--rate TPS]
        [--rounds N] [--blocking] [--url URL]

``--url`` uses a database sample-data already filled (1,000,000 students take minutes to
load) instead of building one: the bench damages it and maintains it like its own, and
gives its tables back their autovacuum when it ends.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from common import BIN, CLASSES, LmsMix, LmsResult, cluster, fresh_db, load_average

BLOCKING = ["REINDEX TABLE enrollments", "REINDEX TABLE module_progress", "VACUUM (ANALYZE)"]
UNPACED = ["--pause-above", "off", "--cost-delay", "2ms"]  # what `maintain run` did before #21


def cli_command() -> list[str]:
    return [str(BIN / "watoto-schema")]


def run(cmd: list[str], ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode not in ok:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd[-4:])}: "
                         f"{proc.stderr.strip()[-600:]}")
    return proc


def _tables(conn: psycopg.Connection[object]) -> list[str]:
    return [str(name) for (name,) in conn.execute(
        "SELECT oid::regclass::text FROM pg_class WHERE relkind = 'r' "
        "AND relnamespace = 'public'::regnamespace").fetchall()]


def no_autovacuum(conn: psycopg.Connection[object]) -> None:
    """Only the phases under test do maintenance: keep autovacuum out of every phase."""
    for name in _tables(conn):
        conn.execute(f"ALTER TABLE {name} SET (autovacuum_enabled = false)")


def autovacuum_back(url: str) -> None:
    """Undo ``no_autovacuum`` (on a database given with --url)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for name in _tables(conn):
            conn.execute(f"ALTER TABLE {name} RESET (autovacuum_enabled)")


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
            writer.execute("UPDATE module_progress SET attempts = attempts WHERE id = "
                           "(SELECT min(id) FROM module_progress)")
            conn.execute("SET lock_timeout = '300ms'")
            with contextlib.suppress(psycopg.errors.LockNotAvailable):
                conn.execute("CREATE INDEX CONCURRENTLY idx_progress_score "
                             "ON module_progress (score)")
            conn.execute("RESET lock_timeout")
            writer.execute("ROLLBACK")
        row = conn.execute("SELECT indisvalid FROM pg_index "
                           "WHERE indexrelid = 'idx_progress_score'::regclass").fetchone()
        assert row == (False,), "expected an INVALID index"
        conn.execute("CHECKPOINT")  # no phase pays for the damage's writes


def during(mix: LmsMix, seconds: int, rate: float, key: str,
           action: Callable[[], str] | None) -> tuple[LmsResult, str, float]:
    """One phase: the LMS mix for ``seconds``, ``action`` started 3 s into it."""
    bench = mix.start(key, seconds, rate)
    note, window, took = "", None, 0.0
    if action is not None:
        time.sleep(3)  # let the workload settle first
        started = time.time()
        note = action()
        window = (started, time.time())
        took = window[1] - started
        if took + 3 > seconds:
            note += " (longer than the workload: raise --seconds)"
    return mix.finish(bench, key, window), note, took


def show(row: tuple[str, int, LmsResult, LmsResult, str, float, str]) -> None:
    label, round_no, idle, result, note, took, load = row
    cells = []
    for kind in CLASSES:
        base, now = idle.p99(kind), result.p99(kind, window=True)
        cells.append(f"{base:10.2f}ms {now:10.2f}ms {now / base if base else 0:5.2f}x")
    print(f"{label:<14} {round_no:>5} {load:>5} {took:6.1f}s " + " ".join(cells)
          + f" {result.failed:>6}")
    print(f"{'':<14} {note}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=None,
                        help="Length of each phase (default: 1 s per 1,000 students, at "
                        "least 40: a run at 100,000 students takes 45-95 s on 2 busy cores).")
    parser.add_argument("--rate", type=float, default=100,
                        help="Transactions/second of the LMS mix (pgbench --rate).")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1,
                        help="Repeat (a), (b), (c) this many times, interleaved; medians.")
    parser.add_argument("--blocking", action="store_true",
                        help="Add (d): blocking REINDEX TABLE + VACUUM, once.")
    parser.add_argument("--url", help="a sample-data database to use instead of building one")
    parser.add_argument("--paced", default="",
                        help="Extra options of `maintain run` in (c), e.g. '--pause-above 3'.")
    args = parser.parse_args()
    seconds = args.seconds or max(40, args.students // 1_000)
    cli = cli_command()
    thresholds = ["--bloat-min-mb", "0.5", "--index-bloat-ratio", "0.3"]

    with tempfile.TemporaryDirectory(prefix="watoto-bench-maintain-") as tmp, \
            contextlib.ExitStack() as stack:
        setup = time.perf_counter()
        if args.url:
            url = args.url
        else:
            url = fresh_db(stack.enter_context(cluster()), "bench_maintain")
            run([*cli, "--dsn", url, "migrate"])
            run([*cli, "--dsn", url, "sample-data", "--students", str(args.students)])
        with psycopg.connect(url, autocommit=True) as conn:
            no_autovacuum(conn)
        if args.url:
            stack.callback(autovacuum_back, url)
        mix = LmsMix(url, Path(tmp), clients=args.clients)
        damage(url)
        print(f"{'the given database' if args.url else f'{args.students:,} students'} "
              "loaded and damaged in "
              f"{time.perf_counter() - setup:.0f}s; the LMS mix (sql/loadtest, default "
              f"weights) at {args.rate:g} tps, {args.clients} clients, -M prepared, "
              f"{seconds}s per phase, statement_timeout 5s")
        planned = json.loads(run([*cli, "--dsn", url, "--json", "maintain", "plan",
                                  *thresholds], ok=(0, 2)).stdout)
        print("plan: " + "; ".join(f"{t['title']} ({t['findings'][0]['kind']})"
                                   for t in planned["tasks"]))

        def maintain(extra: list[str]) -> Callable[[], str]:
            def action() -> str:
                summary = json.loads(run([*cli, "--dsn", url, "--json", "maintain", "run",
                                          *thresholds, *extra]).stdout)
                done = sum(op["status"] == "done" for op in summary["operations"])
                pacing = summary.get("pacing") or {}
                paused = (f"; guard: paused {pacing['pauses']}x, "
                          f"{pacing['paused_seconds']:.1f}s, probe p90 "
                          f"{pacing['baseline_ms'] or 0:.2f} ms before, threshold "
                          f"{pacing['threshold_ms']:.2f} ms, probe max "
                          f"{pacing['probe_max_ms']:.1f} ms" if pacing.get("guard") else "")
                return f"{done} operations done in {summary['seconds']:.1f}s{paused}"
            return action

        rows: list[tuple[str, int, LmsResult, LmsResult, str, float, str]] = []
        print(f"{'phase':<14} {'round':>5} {'load':>5} {'took':>7} "
              + " ".join(f"{k + ' idle':>12} {k + ' during':>12} {'ratio':>6}"
                         for k in CLASSES) + f" {'failed':>6}", flush=True)
        phase = 0
        for round_no in range(1, args.rounds + 1):
            phase += 1
            load = load_average()
            idle, _, _ = during(mix, seconds, args.rate, f"p{phase}", None)
            for label, extra in (("(b) unpaced", UNPACED),
                                 ("(c) paced", args.paced.split())):
                damage(url)
                phase += 1
                load = load_average()
                result, note, took = during(mix, seconds, args.rate, f"p{phase}",
                                            maintain(extra))
                rows.append((label, round_no, idle, result, note, took, load))
                show(rows[-1])
        if args.blocking:
            damage(url)
            phase += 1

            def blocking() -> str:
                with psycopg.connect(url, autocommit=True) as conn:
                    for statement in BLOCKING:
                        conn.execute(statement)
                return " + ".join(BLOCKING)

            load = load_average()
            result, note, took = during(mix, seconds, args.rate, f"p{phase}", blocking)
            rows.append(("(d) blocking", 1, idle, result, note, took, load))
            show(rows[-1])

    ratios: dict[str, dict[str, list[float]]] = {}
    durations: dict[str, list[float]] = {}
    for label, _, idle, result, _, took, _ in rows:
        for kind in CLASSES:
            base, now = idle.p99(kind), result.p99(kind, window=True)
            ratios.setdefault(label, {}).setdefault(kind, []).append(now / base if base
                                                                      else 0.0)
        durations.setdefault(label, []).append(took)
    print("medians over the rounds (p99 while it ran / p99 idle, per class):")
    for label, by_kind in ratios.items():
        worst = max(statistics.median(v) for v in by_kind.values())
        print(f"  {label:<14} " + "  ".join(f"{k} {statistics.median(v):.2f}x"
                                           for k, v in by_kind.items())
              + f"  took {statistics.median(durations[label]):.1f}s"
              + f"  target <= 2x: {'met' if worst <= 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
