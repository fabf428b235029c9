"""Issues #2 and #13: `watoto-schema sample-data` at 100,000 students (and 1,000,000 when
WATOTO_BENCH_1M=1), against a bare COPY of the same rows.

Reference measured in the same run: COPY of exactly the same rows into bare copies of the
tables (no indexes, constraints or triggers), i.e. the cost of moving the bytes alone. The
ratio shows what generating the data and the schema's guarantees (key tables, foreign
keys, indexes, the checks, ANALYZE) cost. Targets: 100,000 students in under a minute
(#2), under 4x the bare COPY (#21; 5x in #13), 1,000,000 in under 10 minutes (#13).
The seconds of each step of the load (its ``--json`` document) follow, each also
against the bare COPY, then the CPU seconds of the loading backend (the floor: one
transaction runs on one backend, so the load cannot take less than that) and of the
second session that makes rows on the server, and the machine's load average (the ratio
is measured in the same run, so it holds up better than the seconds on a busy machine).

    make bench            # or: .venv/bin/python bench/sample_data_speed.py [--students N]
    .venv/bin/python bench/sample_data_speed.py --before /path/to/old/venv --repeat 2
                          # before and after, alternately, in the same cluster
    WATOTO_BENCH_1M=1 make bench   # adds the 1,000,000-student run (minutes of both cores)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import psycopg
from common import BIN, cluster, cpu_seconds, fresh_db, timed
from psycopg import sql

from watoto_schema.sample_data import TABLES


def bare_copy_seconds(url: str) -> tuple[float, dict[str, int]]:
    """Dump every loaded table, then time COPY of those bytes into bare tables."""
    with psycopg.connect(url, autocommit=True) as conn:
        counts = {t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(t))).fetchone()[0] for t in TABLES}  # type: ignore[index]
        dumps = {}
        for table in TABLES:
            buffer = io.BytesIO()
            with conn.cursor().copy(sql.SQL("COPY (SELECT * FROM {}) TO STDOUT").format(
                    sql.Identifier(table))) as copy:
                for chunk in copy:
                    buffer.write(chunk)
            dumps[table] = buffer.getvalue()
        started = time.perf_counter()
        with conn.transaction(force_rollback=True):
            for table in TABLES:
                bare = sql.Identifier(f"bare_{table}")
                conn.execute(sql.SQL("CREATE TABLE {} (LIKE {})").format(
                    bare, sql.Identifier(table)))
                with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(bare)) as copy:
                    copy.write(dumps[table])
            seconds = time.perf_counter() - started
    return seconds, counts


class BackendCpu:
    """CPU seconds of the server backends ``sample-data`` opens (read from /proc: the
    cluster is local), sampled every 0.1 s while it runs: the loading session's (the
    first to connect) and any other's (the second session that makes rows on the
    server). Parallel workers are not counted."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.cpu: dict[int, float] = {}  # pid -> last CPU seconds seen
        self.started: dict[int, float] = {}  # pid -> backend_start (epoch)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> BackendCpu:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.wait(0.1):
                for pid, began in conn.execute(
                        "SELECT pid, extract(epoch FROM backend_start)::float8 "
                        "FROM pg_stat_activity WHERE datname = current_database() "
                        "AND application_name = 'watoto-schema' "
                        "AND backend_type = 'client backend'").fetchall():
                    seconds = cpu_seconds(pid)
                    if seconds:  # 0: gone since; keep the last figure seen
                        self.cpu[pid] = seconds
                        self.started.setdefault(pid, began)

    def loading_and_other(self) -> tuple[float, float]:
        if not self.cpu:
            return 0.0, 0.0
        first = min(self.started, key=self.started.__getitem__)
        return self.cpu[first], sum(v for pid, v in self.cpu.items() if pid != first)


def sample_data(url: str, students: int,
                bindir: Path = BIN) -> tuple[float, dict[str, float], tuple[float, float]]:
    """Wall-clock seconds of the whole ``sample-data`` process, its seconds per step, and
    the CPU seconds of its loading backend and of its other (second) session."""
    started = time.perf_counter()
    with BackendCpu(url) as backends:
        proc = subprocess.run([str(bindir / "watoto-schema"), "--dsn", url, "--json",
                               "sample-data", "--students", str(students)],
                              capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"sample-data failed: {proc.stderr.strip()[-400:]}")
    return (elapsed, dict(json.loads(proc.stdout).get("steps", {})),
            backends.loading_and_other())


def measure(pg: object, students: int, limit: float, bindir: Path = BIN) -> float:
    """One load and its reference; returns the ratio to the bare COPY."""
    url = fresh_db(pg, f"bench_sample_{students}")  # type: ignore[arg-type]
    timed([str(bindir / "watoto-schema"), "--dsn", url, "migrate"])
    ours, steps, (loading_cpu, other_cpu) = sample_data(url, students, bindir)
    bare, counts = bare_copy_seconds(url)
    total = sum(counts.values())
    ratio = ours / bare
    which = "" if bindir == BIN else f" [{bindir.parent}]"
    print(f"sample-data --students {students:,}{which}: {total:,} rows "
          + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    print(f"  COPY of the same rows into bare tables    {bare:7.1f} s    1.00x  reference")
    print(f"  watoto-schema sample-data (whole process) {ours:7.1f} s  {ratio:6.2f}x"
          f"  target < {limit:.0f} s ({'met' if ours < limit else 'MISSED'}), "
          f"< 4x ({'met' if ratio < 4 else 'MISSED'})")
    for name, seconds in steps.items():
        print(f"    {name:<40} {seconds:7.1f} s  {seconds / bare:6.2f}x")
    print(f"  CPU of the loading backend                {loading_cpu:7.1f} s  "
          f"{loading_cpu / bare:6.2f}x  the floor of one transaction on one backend")
    if other_cpu:
        print(f"  CPU of the second session                 {other_cpu:7.1f} s  "
              f"{other_cpu / bare:6.2f}x")
    load = os.getloadavg()
    print(f"  load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--before", type=Path, metavar="VENV",
                        help="Also measure the sample-data of another install (a virtualenv of "
                             "an earlier commit), alternately with this one, same cluster.")
    parser.add_argument("--repeat", type=int, default=1, help="Measure each this many times.")
    args = parser.parse_args()
    sizes = [args.students]
    if os.environ.get("WATOTO_BENCH_1M") and args.students != 1_000_000:
        sizes.append(1_000_000)
    installs = [BIN] if args.before is None else [args.before / "bin", BIN]
    with cluster() as pg:
        for students in sizes:
            ratios: dict[Path, list[float]] = {bindir: [] for bindir in installs}
            for _ in range(args.repeat):
                for bindir in installs:
                    ratios[bindir].append(
                        measure(pg, students, 60 if students <= 100_000 else 600, bindir))
            if len(installs) > 1 or args.repeat > 1:
                print(f"ratios to the bare COPY at {students:,} students: " + "; ".join(
                    f"{'this install' if b == BIN else b.parent}: "
                    + ", ".join(f"{r:.2f}x" for r in rs) for b, rs in ratios.items()))


if __name__ == "__main__":
    main()
