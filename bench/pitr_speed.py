"""Issue #11 figure: how long a `pitr drill` takes to recover a sample-data database from a
base backup plus archived WAL, against a plain `pg_basebackup` of the same cluster.

On a throwaway cluster (fsync on) archiving with basic_archive (`pitr setup --apply`):
a base backup of the migrated, empty database, then `sample-data --students N` (its WAL is
what the drill replays from the archive), then a drill to a time after the load. The
reference is a plain `pg_basebackup -Ft -X stream` of the loaded cluster, timed in the same
run: the ratio says what proving a restore costs next to taking a backup.

    make bench            # or: .venv/bin/python bench/pitr_speed.py [--students N]
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import subprocess
import time
from typing import Any

import psycopg
from common import BIN, cluster, timed

from watoto_schema.local import find_bindir

CLI = str(BIN / "watoto-schema")


def cli_json(*args: str, ok: tuple[int, ...] = (0,)) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    proc = subprocess.run([CLI, "--json", *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode not in ok:
        raise SystemExit(f"benchmark command failed: {' '.join(args[:4])}: "
                         f"{proc.stderr.strip()[-400:]}")
    return elapsed, json.loads(proc.stdout)


def commit_and_archive(url: str) -> str:
    """Commit a marker row, switch WAL and wait until it is archived; return the server time."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO users (email, password_hash, role) VALUES "
                     "(format('bench%s@example.org', clock_timestamp()), 'x', 'admin')")
        row = conn.execute("SELECT clock_timestamp()::text").fetchone()
    cli_json("--dsn", url, "pitr", "check", "--switch-wal", "--timeout", "300")
    assert row is not None
    return str(row[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000)
    args = parser.parse_args()
    with cluster() as pg:
        archive = pg.root / "archive"
        archive.mkdir(mode=0o755)
        if os.geteuid() == 0:
            user = pwd.getpwnam(os.environ.get("WATOTO_PG_USER", "postgres"))
            os.chown(archive, user.pw_uid, user.pw_gid)
        pg.create_database("watoto")
        cli_json("--dsn", pg.url(), "pitr", "setup", "--archive-dir", str(archive), "--apply")
        pg.stop()
        pg.start(dbname="watoto")
        url = pg.url()
        timed([CLI, "--dsn", url, "migrate"])
        base = pg.root / "base"
        backup_s, _ = cli_json("--dsn", url, "pitr", "base-backup", "--to", str(base))
        load_s = timed([CLI, "--dsn", url, "sample-data", "--students", str(args.students)])
        target = commit_and_archive(url)
        commit_and_archive(url)  # recovery knows it reached the target from a later commit
        wal = sum(1 for p in archive.iterdir() if len(p.name) == 24)

        drill_s, doc = cli_json("--dsn", url, "pitr", "drill", "--base-backup", str(base),
                                "--archive", str(archive), "--target-time", target)
        assert doc["ok"], doc
        reference = pg.root / "reference"
        ref_s = timed([str(find_bindir() / "pg_basebackup"), "--dbname", url, "--pgdata",
                       str(reference), "--format", "tar", "--wal-method", "stream",
                       "--checkpoint", "fast"])
        size = sum(p.stat().st_size for p in reference.iterdir())
        shutil.rmtree(reference)
        print(f"  sample data: {args.students} students in {load_s:.1f}s; {wal} archived WAL "
              f"segments; base backup of the empty database {backup_s:.2f}s")
        print(f"  row counts after the drill: users {doc['row_counts'].get('users')}, "
              f"enrollments {doc['row_counts'].get('enrollments')}")
        print(f"  {'plain pg_basebackup of the loaded cluster (reference)':<58} {ref_s:8.2f} s"
              f"   1.00x  ({size / 1e6:.0f} MB)")
        print(f"  {'drill: recovery (start to promoted)':<58} "
              f"{doc['recovery_seconds']:8.2f} s  {doc['recovery_seconds'] / ref_s:5.2f}x")
        print(f"  {'drill: whole command (restore, recover, drift, counts)':<58} "
              f"{drill_s:8.2f} s  {drill_s / ref_s:5.2f}x")


if __name__ == "__main__":
    main()
