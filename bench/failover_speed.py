"""Failover and replica lag, measured on local clusters (issue #12).

1. The failover drill (`local drill failover`) on a pg_auto_failover formation, 3 drills
   each: pg_auto_failover's own detection settings, the "fast" preset, and the fast preset
   with asynchronous replication. Recovery time is the kill-to-first-successful-write time
   the writer saw; the reference is pg_auto_failover's documented 15-30 s detection, and
   the fast preset is compared with the defaults measured in this same run.
2. Replay lag while `migrate` builds the shipped indexes of the biggest tables
   concurrently on the 100,000-student sample, primary + 2 streaming standbys, with and
   without `--max-replica-lag`.

Run: .venv/bin/python bench/failover_speed.py  (about 10 minutes on 2 cores)
Env: WATOTO_BENCH_STUDENTS (default 100000), WATOTO_BENCH_DRILLS (default 3).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql

from watoto_schema import local
from watoto_schema.local import LocalCluster
from watoto_schema.local.drill import failover_drill

BIN = Path(sys.executable).parent / "watoto-schema"
STUDENTS = int(os.environ.get("WATOTO_BENCH_STUDENTS", "100000"))
DRILLS = int(os.environ.get("WATOTO_BENCH_DRILLS", "3"))
DOCUMENTED = (15.0, 30.0)  # pg_auto_failover's maintainers: detection takes 15-30 s


def _folder(prefix: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(root, 0o755)
    return root


def drills(detection: str, replication: str) -> list[dict[str, float]]:
    root = _folder("watoto-bench-ha-")
    cluster = LocalCluster(root / ".watoto")
    try:
        local.start(cluster, ha=True, detection=detection, replication=replication)
        results = []
        for _ in range(DRILLS):
            report = failover_drill(cluster, writes_per_second=50, timeout=180)
            if report.recovery_seconds is None:
                raise SystemExit(f"{detection}/{replication}: writes never came back")
            results.append({"recovery": report.recovery_seconds,
                            "lost": float(len(report.lost)),
                            "acknowledged": float(report.acknowledged),
                            "in_doubt": float(report.in_doubt),
                            "rejoin": report.rejoin_seconds or 0.0})
        return results
    finally:
        local.destroy(cluster)
        shutil.rmtree(root, ignore_errors=True)


class LagSampler:
    """Poll pg_stat_replication on the primary every 50 ms; keep the worst replay lag."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.max_bytes = 0.0
        self.max_seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(0.05):
                for lag_bytes, lag_seconds in conn.execute(
                        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), "
                        "extract(epoch FROM replay_lag) FROM pg_stat_replication"):
                    self.max_bytes = max(self.max_bytes, float(lag_bytes or 0))
                    self.max_seconds = max(self.max_seconds, float(lag_seconds or 0))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(BIN), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"watoto-schema {' '.join(args[:3])} failed: {proc.stderr[-400:]}")
    return proc


def index_build_lag() -> list[tuple[str, float, float, float]]:
    root = _folder("watoto-bench-lag-")
    cluster = LocalCluster(root / ".watoto")
    try:
        local.start(cluster, replicas=2)
        url = local.writer_url(cluster)
        cli("--dsn", url, "migrate")
        cli("--dsn", url, "sample-data", "--students", str(STUDENTS))
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i "
                "JOIN pg_class c ON c.relname = i.indexname "
                "JOIN pg_index x ON x.indexrelid = c.oid "
                "WHERE i.schemaname = 'public' AND i.tablename IN "
                "('module_progress', 'enrollments', 'assessment_submissions') "
                "AND NOT x.indisunique AND NOT x.indisprimary "
                "AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = c.oid) "
                "ORDER BY 1").fetchall()
        folder = root / "more"
        folder.mkdir()
        creates = "\n".join(d.replace("CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1) + ";"
                            for _, d in rows)
        with psycopg.connect(url) as conn:
            drops = "\n".join(
                sql.SQL("DROP INDEX IF EXISTS {};").format(sql.Identifier(name)).as_string(conn)
                for name, _ in rows)
        (folder / "1001_rebuild_indexes.sql").write_text(
            "-- depends: 0007_views\n-- transactional: false\n" + creates + "\n")
        (folder / "1001_rebuild_indexes.rollback.sql").write_text(drops + "\n")
        results = []
        for label, extra in (("no limit", []), ("--max-replica-lag 1MB",
                                                ["--max-replica-lag", "1MB"])):
            with psycopg.connect(url, autocommit=True) as conn:
                for name, _ in rows:
                    conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(
                        sql.Identifier(name)))
                conn.execute("CHECKPOINT")
            sampler = LagSampler(url)
            started = time.monotonic()
            cli("--dsn", url, "--migrations", str(folder), "migrate", "--no-premake", *extra)
            seconds = time.monotonic() - started
            sampler.stop()
            results.append((label, sampler.max_bytes, sampler.max_seconds, seconds))
            cli("--dsn", url, "--migrations", str(folder), "rollback", "--steps", "1")
        print(f"   ({len(rows)} indexes of module_progress, enrollments and "
              "assessment_submissions, rebuilt concurrently)")
        return results
    finally:
        local.destroy(cluster)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    print(f"== failover drills ({DRILLS} per setting, 50 writes/s through the writer URL)")
    rows = []
    for detection, replication in (("default", "sync"), ("fast", "sync"), ("fast", "async")):
        results = drills(detection, replication)
        recovery = statistics.median(r["recovery"] for r in results)
        lost = [int(r["lost"]) for r in results]
        rows.append((detection, replication, recovery, lost, results))
        each = ", ".join(f"{r['recovery']:.1f}" for r in results)
        print(f"   {detection:7} detection, {replication:5} replication: recovery median "
              f"{recovery:5.1f}s (each: {each}), "
              f"acknowledged rows lost per drill: {lost}, rejoin median "
              f"{statistics.median(r['rejoin'] for r in results):.1f}s")
    default = rows[0][2]
    for detection, replication, recovery, _, _ in rows:
        print(f"   ratio {detection}/{replication} to pg_auto_failover's documented "
              f"{DOCUMENTED[0]:g}-{DOCUMENTED[1]:g}s: {recovery / DOCUMENTED[0]:.2f}x-"
              f"{recovery / DOCUMENTED[1]:.2f}x; to the defaults measured here: "
              f"{recovery / default:.2f}x")
    print(f"== replay lag while migrate rebuilds indexes concurrently ({STUDENTS} students, "
          "primary + 2 streaming standbys)")
    for label, max_bytes, max_seconds, seconds in index_build_lag():
        print(f"   {label:22}: worst replay lag {max_bytes / 1024 / 1024:7.1f} MB, "
              f"{max_seconds:5.2f}s; migrate took {seconds:5.1f}s")


if __name__ == "__main__":
    main()
