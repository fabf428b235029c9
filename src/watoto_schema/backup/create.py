"""``backup create``: pg_dump and a manifest, consistent with each other, renamed when whole."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import BackupError, BackupRefused
from ..target import Target, connect, redact
from . import tools
from .manifest import (
    DUMP_NAMES,
    FORMAT_VERSION,
    MANIFEST,
    PARTIAL,
    ROW_COUNTS_NOTE,
    dump_files,
    row_counts,
    write_json,
)


@dataclass
class Created:
    path: Path
    manifest: dict[str, Any]


def backup_name(created_at: datetime, database: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", database) or "database"
    return f"{created_at.strftime('%Y%m%dT%H%M%SZ')}_{safe}"


def applied_migrations(conn: Any) -> list[dict[str, Any]]:
    from ..migrate import read_applied

    return [{"version": s.version, "checksum": s.checksum, "state": s.state}
            for s in read_applied(conn).values()]


def create(target: Target, *, directory: Path = Path("backups"), fmt: str = "custom",
           jobs: int = 1, now: datetime | None = None,
           on_event: Callable[[str], None] | None = None) -> Created:
    """Dump ``target`` into a new folder under ``directory`` and describe it in a manifest.

    The row counts and the migration history are read in the very snapshot pg_dump dumps
    (``pg_export_snapshot`` / ``pg_dump --snapshot``), so they describe the dump exactly.
    The folder is written under a hidden ``.partial`` name and renamed when complete; an
    existing backup of the same name is never overwritten (``BackupRefused``).
    """
    import psycopg

    note = on_event or (lambda message: None)
    if fmt not in DUMP_NAMES:
        raise BackupError(f"unknown backup format {fmt!r} (custom or directory)")
    if jobs < 1:
        raise BackupError("--jobs must be at least 1")
    if jobs > 1 and fmt != "directory":
        raise BackupError("--jobs needs --format directory (pg_dump dumps a custom-format "
                          "archive with one process)")
    started = time.perf_counter()
    created_at = (now or datetime.now(UTC)).replace(microsecond=0)
    with connect(target, autocommit=False) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        row = conn.execute("SELECT pg_export_snapshot(), current_database(), "
                           "current_setting('server_version'), "
                           "current_setting('server_version_num')::int").fetchone()
        assert row is not None
        snapshot, database, server_version, server_num = (str(row[0]), str(row[1]), str(row[2]),
                                                          int(str(row[3])))
        final = directory / backup_name(created_at, str(database))
        if final.exists():
            raise BackupRefused(f"{final} already exists; a backup is never overwritten")
        partial = directory / (f".{final.name}{PARTIAL}{socket.gethostname()}-{os.getpid()}-"
                               f"{secrets.token_hex(3)}")
        try:
            directory.mkdir(parents=True, exist_ok=True)
            partial.mkdir()
        except OSError as exc:
            raise BackupError(f"cannot write a backup in {directory}: {exc.strerror}") from exc
        try:
            migrations = applied_migrations(conn)
            counts = row_counts(conn)
            pg_dump, dump_version = tools.find_tool("pg_dump", server_num // 10000)
            dbname_args, env = tools.libpq_args(target)
            dump = DUMP_NAMES[fmt]
            args = [str(pg_dump), f"--snapshot={snapshot}", f"--format={fmt}",
                    f"--file={partial / dump}", "--no-password", *dbname_args]
            if fmt == "directory":
                args.append(f"--jobs={jobs}")
            note(f"dumping {database} with {dump_version} ({fmt} format)")
            dump_started = time.perf_counter()
            tools.run(args, env, "pg_dump")
            dump_seconds = time.perf_counter() - dump_started
            conn.rollback()  # the snapshot is no longer needed
            files = dump_files(partial, dump)
            manifest: dict[str, Any] = {
                "format_version": FORMAT_VERSION,
                "created_at": created_at.isoformat(),
                "database": database,
                "dsn": redact(target.conninfo) or "(libpq defaults)",
                "format": fmt,
                "dump": dump,
                "jobs": jobs,
                "server": {"version": server_version, "version_num": server_num},
                "tools": {"watoto-schema": __version__, "pg_dump": dump_version},
                "migrations": migrations,
                "row_counts_method": ROW_COUNTS_NOTE,
                "row_counts": counts,
                "rows": sum(counts.values()),
                "files": files,
                "bytes": sum(int(f["bytes"]) for f in files.values()),
                "dump_seconds": round(dump_seconds, 3),
                "seconds": round(time.perf_counter() - started, 3),
            }
            write_json(partial / MANIFEST, manifest)
            _fsync_dir(partial)
            if final.exists():
                raise BackupRefused(f"{final} already exists; a backup is never overwritten")
            os.rename(partial, final)
            _fsync_dir(directory)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    return Created(final, manifest)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
