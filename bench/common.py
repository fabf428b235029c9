"""Shared helpers for the benchmarks: a throwaway cluster and whole-process timing."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from watoto_schema.local import LocalCluster
from watoto_schema.sources import MigrationFile

BIN = Path(sys.executable).parent


@contextmanager
def cluster(fsync: bool = True) -> Iterator[LocalCluster]:
    """A throwaway cluster for one benchmark run: fsync on, as a real server would run, unless
    ``fsync=False`` (fsync, synchronous_commit and full_page_writes off, as a test server)."""
    root = Path(tempfile.mkdtemp(prefix="watoto-bench-"))
    os.chmod(root, 0o755)
    pg = LocalCluster(root / "cluster", fsync=fsync)
    pg.start(dbname="postgres")
    try:
        yield pg
    finally:
        pg.destroy()
        os.rmdir(root)


def fresh_db(pg: LocalCluster, name: str) -> str:
    """Drop and recreate database ``name``; return its URL."""
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    return pg.url(name)


def timed(cmd: Sequence[str], env: dict[str, str] | None = None) -> float:
    """Wall-clock seconds of one whole process; fails loudly if the process fails."""
    started = time.perf_counter()
    proc = subprocess.run(list(cmd), capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed: {cmd[0]}: {proc.stderr.strip()[-400:]}")
    return elapsed


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000


def row(label: str, value_ms: float, reference_ms: float | None = None,
        note: str = "") -> str:
    ratio = f"{value_ms / reference_ms:6.2f}x" if reference_ms else "       "
    return f"  {label:<44} {value_ms:9.1f} ms  {ratio}  {note}"


def psql_script(files: Sequence[MigrationFile], out: Path, each: bool = False) -> int:
    """The migrations' SQL as one psql script, with the same schema_migrations rows.

    Returns the count of migrations.

    Without ``each``: one transaction around each run of transactional migrations (the
    whole set but the non-transactional ones, which run outside as they must), like
    ``psql -1``; with ``each``: every transactional migration in its own BEGIN/COMMIT, the
    atomicity migrate gives.
    """
    parts: list[str] = []
    in_transaction = False
    for f in files:
        body = ("\n".join(s.rstrip(";") + ";" for s in f.statements)
                + f"\nINSERT INTO schema_migrations (version) VALUES ('{f.version}');")
        if each and f.transactional:
            body = f"BEGIN;\n{body}\nCOMMIT;"
        elif not each and f.transactional != in_transaction:
            parts.append("BEGIN;" if f.transactional else "COMMIT;")
            in_transaction = f.transactional
        parts.append(body)
    if in_transaction:
        parts.append("COMMIT;")
    out.write_text("\n".join(parts) + "\n")
    return len(files)
