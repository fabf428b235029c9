"""``backup restore``: into a staging database, checked, then renamed into place.

pg_restore never writes into the target database itself: it restores into
``<target>_restoring_<random>`` on the same server (in parallel with ``--jobs``), the
restored row counts are compared with the manifest, and only then is the target swapped
for the staging database with two renames. A failed or killed restore leaves the target
as it was (and a staging database whose name says what it is).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BackupDamaged, BackupError, BackupRefused
from ..target import Target, connect, drop_database
from . import tools
from .manifest import check_files, load_manifest, row_counts, user_relations
from .verify import compare_counts, restore_args


@dataclass
class Restored:
    database: str
    seconds: float
    tables: int
    rows: int
    replaced: bool  # the target held relations before
    created: bool = False  # the target did not exist


def restore(path: Path, to: Target, *, jobs: int = 1, yes: bool = False,
            keep_owners: bool = True, on_event: Callable[[str], None] | None = None
            ) -> Restored:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    note = on_event or (lambda message: None)
    if jobs < 1:
        raise BackupError("--jobs must be at least 1")
    manifest = load_manifest(path)
    problems = check_files(path, manifest)
    if problems:
        raise BackupDamaged(f"{path} is damaged, not restored: " + "; ".join(problems[:3]))
    maintenance = Target(make_conninfo(to.conninfo, dbname="postgres"), to.source)
    named = str(conninfo_to_dict(to.conninfo).get("dbname") or "")
    exists = True
    if named:  # a database that does not exist yet is created by the restore
        with connect(maintenance) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                   (named,)).fetchone() is not None
    relations, owner = 0, None
    if exists:
        with connect(to) as conn:
            row = conn.execute("SELECT current_database(), pg_get_userbyid(datdba) FROM "
                               "pg_database WHERE datname = current_database()").fetchone()
            assert row is not None
            database, owner = str(row[0]), (str(row[1]),)
            major = int(conn.info.server_version) // 10000
            relations = user_relations(conn)
    else:
        database = named
        with connect(maintenance) as admin:
            major = int(admin.info.server_version) // 10000
    if relations and not yes:
        raise BackupRefused(f"{to.display} is not empty ({relations} relations): nothing was "
                            "restored; --yes replaces the database with the backup")
    if database in ("postgres", "template0", "template1"):
        raise BackupRefused(f"will not replace the {database} database; restore into a "
                            "database of its own")
    staging = f"{database[:40]}_restoring_{secrets.token_hex(4)}"
    old = f"{database[:40]}_replaced_{secrets.token_hex(4)}"
    ident = sql.Identifier
    pg_restore, version = tools.find_tool("pg_restore", major)
    with connect(maintenance) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(ident(staging)))
        swapped = False
        try:
            if owner and keep_owners:
                try:
                    admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                        ident(staging), ident(str(owner[0]))))
                except psycopg.Error as exc:
                    note(f"the restored database keeps its creator as owner: {exc}")
            dbname_args, env = tools.libpq_args(to, staging)
            dump = path / str(manifest["dump"])
            note(f"restoring into {staging} with {version}")
            started = time.perf_counter()
            try:
                tools.run([*restore_args(pg_restore, jobs, keep_owners=keep_owners),
                           *dbname_args, str(dump)], env, "pg_restore")
            except BackupError as exc:
                if keep_owners and "role" in str(exc) and "does not exist" in str(exc):
                    raise BackupError(f"{exc} (--no-owner restores without the source's "
                                      "owners and grants)") from exc
                raise
            seconds = time.perf_counter() - started
            with connect(Target(make_conninfo(to.conninfo, dbname=staging), to.source)) as s:
                counts = row_counts(s)
            mismatch = compare_counts(manifest.get("row_counts") or {}, counts)
            if mismatch:
                raise BackupError("restored rows differ from the manifest, target left as it "
                                  "was: " + "; ".join(mismatch[:3]))
            if exists:
                _swap(admin, database, staging, old, note)
            else:
                admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                    ident(staging), ident(database)))
            swapped = True
        finally:
            if not swapped:
                drop_database(admin, staging)
    return Restored(database, round(seconds, 3), len(counts), sum(counts.values()),
                    bool(relations), not exists)


def _swap(admin: Any, database: str, staging: str, old: str,
          note: Callable[[str], None]) -> None:
    """Put ``staging`` in place of ``database``; the old database is dropped."""
    import psycopg
    from psycopg import sql

    ident = sql.Identifier
    admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(
        ident(database)))
    try:
        for attempt in range(20):
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))
            try:
                admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                    ident(database), ident(old)))
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 19:
                    raise
                time.sleep(0.1)
    except BaseException:
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(
            ident(database)))
        raise
    try:
        admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
            ident(staging), ident(database)))
    except BaseException:
        admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident(old),
                                                                        ident(database)))
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(
            ident(database)))
        raise
    note(f"replaced {database}; dropping the previous copy")
    admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(ident(old)))
