"""``pitr drill``: prove a base backup plus the WAL archive restore to a point in time.

The backup is restored into a scratch folder, started on a free port (as the server user
when root runs this) with ``restore_command`` copying from the archive,
``recovery_target_time`` and ``recovery_target_action = 'promote'``; once recovery ends the
result is checked (drift, row counts, the rows around the target time) and the scratch
server is stopped and removed, whatever happened.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from psycopg import sql

from ..errors import BadConfig, PitrError, RecoveryFailed
from ..local import LocalCluster
from ..resources import sql_text
from ..target import Target, connect
from . import backup as backups

_RESTORED = re.compile(r'restored log file "([0-9A-F]{24})" from archive')
# What restore_command's `cp` says for a segment the archive does not have.
_NOT_FOUND = re.compile(r"cannot stat '[^']*/([0-9A-F]{24})'")


@dataclass
class DrillReport:
    target_time: str
    database: str
    recovery_seconds: float
    start_seconds: float
    last_restored_wal: str | None
    in_sync: bool
    differences: list[dict[str, Any]]
    row_counts: dict[str, int]
    check: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.in_sync and bool(self.check.get("ok", True))

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "target_time": self.target_time, "database": self.database,
                "recovery_seconds": self.recovery_seconds, "start_seconds": self.start_seconds,
                "last_restored_wal": self.last_restored_wal, "in_sync": self.in_sync,
                "differences": self.differences, "row_counts": self.row_counts,
                "check": self.check}


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; without an offset it is UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadConfig(f"--target-time {text!r}: use ISO 8601, e.g. "
                        "2026-11-30T14:05:00+00:00") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _restore_files(backup: backups.BaseBackup, source: Path, datadir: Path) -> None:
    if backup.format == "plain":
        shutil.copytree(source, datadir, symlinks=True,
                        ignore=shutil.ignore_patterns(backups.MANIFEST, "backup_manifest"))
        return
    datadir.mkdir()
    for name, into in (("base.tar", datadir), ("pg_wal.tar", datadir / "pg_wal")):
        found = sorted(source.glob(name + "*"))
        if not found:
            if name == "base.tar":
                raise PitrError(f"{source}: no base.tar in the backup")
            continue
        into.mkdir(exist_ok=True)
        with tarfile.open(found[0], "r:*") as tar:
            tar.extractall(into, filter="data")


def _log_tail(cluster: LocalCluster) -> str:
    try:
        return cluster.logfile.read_text(errors="replace")
    except OSError:
        return ""


def _diagnose(log: str, target: datetime) -> Exception:
    restored = _RESTORED.findall(log)
    last = restored[-1] if restored else None
    after = f" (last segment restored: {last})" if last else " (no segment was restored)"
    if "recovery ended before configured recovery target was reached" in log:
        wanted = sorted(name for name in _NOT_FOUND.findall(log) if last is None or name > last)
        what = (f"segment {wanted[0]} is missing from the archive" if wanted
                else "a WAL segment is missing from the archive")
        return RecoveryFailed(
            f"recovery ended before the target time {target.isoformat()}{after}: {what}, or "
            "no commit after the target time was archived yet")
    if "before consistent recovery point" in log:
        return PitrError(f"target time {target.isoformat()} is before the base backup was "
                         "consistent: choose a later time or an older base backup")
    fatal = [line for line in log.splitlines() if "FATAL:" in line or "PANIC:" in line]
    if fatal:
        message = fatal[-1].split("FATAL:", 1)[-1].split("PANIC:", 1)[-1].strip()
        return RecoveryFailed(f"recovery failed: {message}{after}")
    return RecoveryFailed(f"recovery failed{after}")


def drill(base_backup: Path, archive: Path, target_time: str, *, database: str = "watoto",
          source: Target | None = None, check_table: str = "users",
          check_column: str = "created_at", extra_dirs: tuple[Path, ...] = (),
          timeout: float = 600.0, scratch_parent: Path | None = None,
          on_event: Any = None) -> DrillReport:
    """Restore ``base_backup`` with WAL from ``archive`` to ``target_time`` in a scratch
    server, check it, and remove it. ``source`` (the live database, optional) tells which
    row before the target time must be present."""
    note = on_event or (lambda _text: None)
    target = parse_time(target_time)
    backup = backups.load(base_backup)
    started = datetime.fromisoformat(backup.started_at)
    if target < started:
        raise PitrError(f"target time {target.isoformat()} is before the base backup started "
                        f"({backup.started_at}): no WAL of this backup leads there; use an "
                        "older base backup")
    if not archive.is_dir():
        raise BadConfig(f"--archive {archive}: no such folder")
    expected_latest = None
    if source is not None:
        with connect(source) as conn:
            row = conn.execute(sql.SQL("SELECT max({c})::text FROM {t} WHERE {c} <= %s").format(
                c=sql.Identifier(check_column), t=sql.Identifier(check_table)),
                (target,)).fetchone()
            expected_latest = str(row[0]) if row and row[0] is not None else None

    root = Path(tempfile.mkdtemp(prefix="watoto-drill-", dir=scratch_parent))
    os.chmod(root, 0o755)  # the server user must reach its folder when root runs this
    cluster = LocalCluster(root / "cluster")
    try:
        cluster.root.mkdir()
        if not cluster.server_user_can_read(archive.absolute()):
            raise BadConfig(f"--archive {archive}: the server's user cannot read it (as root "
                            "the scratch server runs as postgres, or $WATOTO_PG_USER): "
                            "chown or chmod it")
        note(f"restoring {base_backup} into {cluster.datadir}")
        _restore_files(backup, base_backup, cluster.datadir)
        for stale in ("standby.signal", "postmaster.pid", "backup_manifest"):
            (cluster.datadir / stale).unlink(missing_ok=True)
        (cluster.datadir / "recovery.signal").write_text("")
        restore = f"cp {shlex.quote(str(archive.absolute()))}/%f %p"
        settings = {"restore_command": restore, "recovery_target_time": target.isoformat(),
                    "recovery_target_action": "promote", "archive_mode": "off",
                    "archive_command": "", "archive_library": "", "hot_standby": "on",
                    "primary_conninfo": "", "fsync": "off", "synchronous_commit": "off"}
        clock = time.monotonic()
        note("starting the scratch server in recovery")
        try:
            start_seconds = cluster.start_existing(settings, timeout=int(timeout))
        except Exception as exc:
            log = _log_tail(cluster)
            if not log:  # the server never ran: the error says why (permissions, binaries)
                raise
            raise _diagnose(log, target) from exc
        url = cluster.url("postgres", user=backup.user)
        deadline = clock + timeout
        while True:
            try:
                with connect(Target(url, "drill"), connect_timeout=5) as conn:
                    row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                    if row and not row[0]:
                        break
            except Exception:
                if not cluster.running():
                    raise _diagnose(_log_tail(cluster), target) from None
            if time.monotonic() > deadline:
                raise RecoveryFailed(f"recovery did not end within {timeout:g}s")
            time.sleep(0.1)
        recovery_seconds = time.monotonic() - clock
        restored = _RESTORED.findall(_log_tail(cluster))
        note(f"recovered in {recovery_seconds:.2f}s; checking")
        recovered = Target(cluster.url(database, user=backup.user), "drill")
        from ..drift import drift as drift_of

        report = drift_of(recovered, extra_dirs=extra_dirs)[0]
        counts: dict[str, int] = {}
        with connect(recovered) as conn:
            for (table,) in conn.execute(sql_text("pitr/tables.sql")).fetchall():
                count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                    sql.Identifier(str(table)))).fetchone()
                counts[str(table)] = int(str(count[0])) if count else 0
            check = _check_rows(conn, check_table, check_column, target, expected_latest,
                                source is not None)
        return DrillReport(target.isoformat(), database, round(recovery_seconds, 3),
                           round(start_seconds, 3), restored[-1] if restored else None,
                           report.in_sync, report.as_dict().get("differences", []), counts,
                           check)
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


def _check_rows(conn: Any, table: str, column: str, target: datetime,
                expected_latest: str | None, compared: bool) -> dict[str, Any]:
    t, c = sql.Identifier(table), sql.Identifier(column)
    row = conn.execute(sql.SQL("SELECT (max({c}) FILTER (WHERE {c} <= %s))::text, "
                               "count(*) FILTER (WHERE {c} > %s) FROM {t}").format(c=c, t=t),
                       (target, target)).fetchone()
    latest, after = row[0], int(row[1])
    result: dict[str, Any] = {"table": table, "column": column, "latest_before_target": latest,
                              "rows_after_target": after, "source_latest": expected_latest}
    present = True
    if compared and expected_latest is not None:
        found = conn.execute(sql.SQL("SELECT count(*) FROM {t} WHERE {c}::text = %s").format(
            c=c, t=t), (expected_latest,)).fetchone()
        present = bool(found and found[0])
    result["latest_present"] = present
    result["ok"] = present and after == 0
    return result
