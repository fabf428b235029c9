"""Issue #11 figures: `watoto-schema backup create` + `backup verify` against the plain
`pg_dump -Fc` + `pg_restore` into a fresh database that they wrap, on the same database
(sample data) on one throwaway server (fsync on), measured in one run.

Ours does more than the reference: exact row counts in the dump's snapshot, sha256 of the
archive, and after the restore a row count and a drift check of the restored copy, plus
two Python start-ups, and it drops its scratch database afterwards (which in PostgreSQL 15
forces a checkpoint); the reference's restored database is kept. Target: within 1.3x of
the reference.

    make bench            # or: .venv/bin/python bench/backup_speed.py [--students N] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from common import BIN, cluster, fresh_db, median_ms, row, timed

from watoto_schema.local import LocalCluster


def checkpoint(pg: LocalCluster) -> None:
    """Start each measurement with no dirty buffers left by the one before it."""
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="watoto-bench-backup-"))
    os.chmod(work, 0o755)
    # a cache of its own, warmed by the first round (as it is on any machine that verifies
    # backups regularly); the median is of the warm rounds
    env = {"WATOTO_CACHE_DIR": str(work / "cache")}
    tool = str(BIN / "watoto-schema")
    create_times, verify_times, dump_times, restore_times = [], [], [], []
    restore_seconds: list[float] = []
    try:
        with cluster() as pg:
            bindir = Path(pg._state().bindir)  # type: ignore[union-attr]
            source = fresh_db(pg, "bench_source")
            subprocess.run([tool, "--dsn", source, "migrate"], check=True, capture_output=True)
            subprocess.run([tool, "--dsn", source, "sample-data", "--students",
                            str(args.students)], check=True, capture_output=True)
            subprocess.run([tool, "--dsn", source, "maintain", "analyze"], capture_output=True)
            for i in range(args.rounds + 1):  # round 0 warms the drift cache
                folder = work / f"ours_{i}"
                checkpoint(pg)
                created = timed([tool, "--dsn", source, "backup", "create", "--dir",
                                 str(folder)], env)
                (path,) = list(folder.iterdir())
                checkpoint(pg)
                started = time.perf_counter()
                proc = subprocess.run([tool, "--dsn", pg.url("postgres"), "--json", "backup",
                                       "verify", str(path)], capture_output=True, text=True,
                                      env={**os.environ, **env})
                verified = time.perf_counter() - started
                if proc.returncode != 0:
                    raise SystemExit(f"verify failed: {proc.stdout[-400:]} {proc.stderr}")
                archive = work / f"plain_{i}.pgdump"
                checkpoint(pg)
                dumped = timed([str(bindir / "pg_dump"), "-Fc", "-f", str(archive), source])
                checkpoint(pg)
                started = time.perf_counter()  # creating the fresh database is part of it
                target = fresh_db(pg, f"bench_plain_{i}")
                restored = time.perf_counter() - started + timed(
                    [str(bindir / "pg_restore"), "--exit-on-error", "-d", target,
                     str(archive)])
                if i == 0:
                    continue
                create_times.append(created)
                verify_times.append(verified)
                restore_seconds.append(json.loads(proc.stdout)["restore_seconds"])
                dump_times.append(dumped)
                restore_times.append(restored)
                size = json.loads((path / "manifest.json").read_text())["bytes"]
                shutil.rmtree(folder)
                archive.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    reference = median_ms([d + r for d, r in zip(dump_times, restore_times, strict=True)])
    ours = median_ms([c + v for c, v in zip(create_times, verify_times, strict=True)])
    print(f"backup and check a database of {args.students} students ({size / 1e6:.1f} MB "
          f"archive), median of {args.rounds} warm rounds (ratio against pg_dump -Fc + "
          "pg_restore)")
    print(row("pg_dump -Fc + pg_restore into a fresh db", reference, reference, "reference"))
    print(row("  pg_dump -Fc", median_ms(dump_times), reference))
    print(row("  CREATE DATABASE + pg_restore", median_ms(restore_times), reference))
    print(row("backup create + backup verify", ours, reference, "target <= 1.30x"))
    print(row("  backup create", median_ms(create_times), reference))
    print(row("  backup verify", median_ms(verify_times), reference))
    print(row("  of which pg_restore (verify's restore time)", median_ms(restore_seconds),
              reference))


if __name__ == "__main__":
    main()
