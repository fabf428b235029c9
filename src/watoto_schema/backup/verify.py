"""``backup verify``: the hashes, then a real restore into a scratch database, then drift
and row counts of the restored copy against the manifest."""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import BackupDamaged, BackupError, NotMigrated
from ..target import Target, connect, drop_database
from . import tools
from .create import applied_migrations
from .manifest import VERIFIED, check_files, load_manifest, row_counts, write_json


@dataclass
class VerifyResult:
    path: Path
    ok: bool
    problems: list[str] = field(default_factory=list)
    restore_seconds: float | None = None
    restored_on: str | None = None  # "server" or "embedded cluster"
    tables: int = 0
    rows: int = 0
    drift_differences: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "ok": self.ok, "problems": self.problems,
                "restore_seconds": self.restore_seconds, "restored_on": self.restored_on,
                "tables": self.tables, "rows": self.rows,
                "drift_differences": self.drift_differences,
                "verified_at": datetime.now(UTC).replace(microsecond=0).isoformat()}


def compare_counts(expected: dict[str, int], actual: dict[str, int]) -> list[str]:
    problems = []
    for table in sorted(set(expected) | set(actual)):
        want, got = expected.get(table), actual.get(table)
        if want != got:
            problems.append(f"rows of {table}: manifest says {want}, restored copy has {got}")
    return problems


def compare_migrations(expected: list[dict[str, Any]],
                       actual: list[dict[str, Any]]) -> list[str]:
    """The restored copy's migration history against the manifest's, version by version."""
    want = {m.get("version"): m.get("checksum") for m in expected}
    got = {m.get("version"): m.get("checksum") for m in actual}
    problems = []
    for version in sorted(set(want) | set(got), key=str):
        if version not in got:
            problems.append(f"migration {version}: in the manifest, not in the restored copy")
        elif version not in want:
            problems.append(f"migration {version}: in the restored copy, not in the manifest")
        elif want[version] != got[version]:
            problems.append(f"migration {version}: checksum differs from the manifest")
    return problems


def restore_args(pg_restore: Path, jobs: int, *, keep_owners: bool) -> list[str]:
    args = [str(pg_restore), "--exit-on-error", "--no-password"]
    if not keep_owners:
        args += ["--no-owner", "--no-acl"]
    if jobs > 1:
        args.append(f"--jobs={jobs}")
    return args


@contextmanager
def scratch_database(server: Target | None,
                     note: Callable[[str], None]) -> Iterator[tuple[Target, str]]:
    """A new empty database, dropped afterwards whatever happens: on ``server`` when it
    allows CREATE DATABASE, else in a throwaway embedded cluster."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    name = f"watoto_verify_{os.getpid()}_{secrets.token_hex(4)}"
    if server is not None:
        with connect(server) as conn:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
                    sql.Identifier(name)))
            except (psycopg.errors.InsufficientPrivilege,
                    psycopg.errors.ReadOnlySqlTransaction):  # no CREATEDB, or a standby
                note("the server refuses CREATE DATABASE: restoring into a throwaway "
                     "embedded cluster")
            else:
                try:
                    yield Target(make_conninfo(server.conninfo, dbname=name), "scratch"), \
                        "server"
                finally:
                    drop_database(conn, name)
                return
    from ..local import LocalCluster

    root = Path(tempfile.mkdtemp(prefix="watoto-verify-"))
    os.chmod(root, 0o755)
    cluster = LocalCluster(root / "cluster", fsync=False)
    try:
        cluster.start(dbname=name)
        yield Target(cluster.url(name), "embedded scratch cluster"), "embedded cluster"
    finally:
        cluster.destroy()
        os.rmdir(root)


def verify(path: Path, server: Target | None, *, extra_dirs: Sequence[Path] = (),
           jobs: int = 1, on_event: Callable[[str], None] | None = None) -> VerifyResult:
    """Check a backup end to end and record the result in its ``verified.json``.

    ``server`` is where the scratch database is created (``None``: an embedded cluster).
    """
    from .. import drift as drift_lib

    note = on_event or (lambda message: None)
    try:
        manifest = load_manifest(path)
    except BackupDamaged as exc:
        result = VerifyResult(path, False, [str(exc)])
        write_json(path / VERIFIED, result.as_dict())
        return result
    result = VerifyResult(path, True)
    result.problems = check_files(path, manifest)
    if not result.problems:
        with scratch_database(server, note) as (scratch, where):
            result.restored_on = where
            with connect(scratch) as conn:
                major = int(conn.info.server_version) // 10000
            pg_restore, _ = tools.find_tool("pg_restore", major)
            dbname_args, env = tools.libpq_args(scratch)
            args = [*restore_args(pg_restore, jobs, keep_owners=False), *dbname_args,
                    str(path / str(manifest["dump"]))]
            note(f"restoring into a scratch database ({where})")
            started = time.perf_counter()
            try:
                tools.run(args, env, "pg_restore")
            except BackupError as exc:  # the backup does not restore: that is the finding
                result.problems.append(str(exc))
                result.ok = False
                write_json(path / VERIFIED, result.as_dict())
                return result
            result.restore_seconds = round(time.perf_counter() - started, 3)
            with connect(scratch) as conn:
                counts = row_counts(conn)
                history = applied_migrations(conn)
            result.problems += compare_migrations(manifest.get("migrations") or [], history)
            result.tables, result.rows = len(counts), sum(counts.values())
            result.problems += compare_counts(manifest.get("row_counts") or {}, counts)
            try:
                reports = drift_lib.drift(scratch, extra_dirs=extra_dirs)
            except NotMigrated:
                if manifest.get("migrations"):
                    result.problems.append("the restored copy has no applied migrations, "
                                           "the manifest lists some")
            else:
                diffs = [d for r in reports for d in r.differences]
                result.drift_differences = len(diffs)
                for d in diffs[:20]:
                    result.problems.append(f"drift: {d.change} {d.kind} {d.name} "
                                           f"({d.object})")
                if len(diffs) > 20:
                    result.problems.append(f"drift: and {len(diffs) - 20} more differences")
    result.ok = not result.problems
    write_json(path / VERIFIED, result.as_dict())
    return result
