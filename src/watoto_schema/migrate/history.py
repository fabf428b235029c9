"""Reading what a database records about its migrations (never writes, never waits)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import sources
from ..resources import sql_text
from ..target import Target, connect
from .model import (
    HISTORY,
    LEDGER,
    YOYO_TABLE,
    AppliedState,
    InvalidIndex,
    StatusReport,
    VerifyReport,
    VersionState,
)

if TYPE_CHECKING:
    import psycopg

# -- reading state (never writes) ----------------------------------------------------------

def _existing(conn: psycopg.Connection[Any]) -> set[str]:
    row = conn.execute("SELECT to_regclass(%s), to_regclass(%s), to_regclass(%s)",
                       (YOYO_TABLE, LEDGER, HISTORY)).fetchone()
    assert row is not None
    return {name for name, oid in zip((YOYO_TABLE, LEDGER, HISTORY), row, strict=True) if oid}


def read_applied(conn: psycopg.Connection[Any]) -> dict[str, AppliedState]:
    """Applied and half-applied versions, merged from yoyo, the ledger and our history."""
    tables = _existing(conn)
    states: dict[str, AppliedState] = {}
    if YOYO_TABLE in tables:
        for version, applied_at in conn.execute(
                "SELECT migration_id, applied_at_utc FROM _yoyo_migration ORDER BY applied_at_utc"):
            states[version] = AppliedState(version, applied_at, "applied", None, None, 0, None,
                                           None)
    if LEDGER in tables:
        ledger = conn.execute("SELECT version, applied_at FROM schema_migrations")
        for version, applied_at in ledger:
            if version in states:
                states[version].applied_at = applied_at
    if HISTORY in tables:
        for row in conn.execute(
                "SELECT version, state, checksum, rollback_checksum, statements_done, "
                "applied_by, duration_ms, applied_at FROM watoto_migration_history"):
            version, state, check, rcheck, done, by, ms, at = row
            entry = states.get(version)
            if entry is None:
                if state != "running":
                    continue  # recorded by us but unmarked by someone else: not applied
                entry = states[version] = AppliedState(version, at.replace(tzinfo=None), state,
                                                       None, None, 0, None, None)
            entry.state = "running" if state == "running" else entry.state
            entry.checksum, entry.rollback_checksum = check, rcheck
            entry.statements_done, entry.applied_by, entry.duration_ms = done, by, ms
    return states


def _invalid_indexes(conn: psycopg.Connection[Any]) -> list[InvalidIndex]:
    return [InvalidIndex(*row) for row in conn.execute(sql_text("engine/invalid_indexes.sql"))]


def status(target: Target, extra_dirs: Sequence[Path] = ()) -> StatusReport:
    """Report every migration: applied, pending, partial, edited or missing. Read-only."""
    files = sources.read(sources.migration_dirs(extra_dirs))
    from . import online

    with connect(target) as conn:
        applied = read_applied(conn)
        invalid = _invalid_indexes(conn)
        in_progress = online.active(conn)
    versions: list[VersionState] = []
    for f in files:
        record = applied.pop(f.version, None)
        if record is None and in_progress is not None and in_progress.version == f.version:
            versions.append(VersionState(
                f.version, in_progress.phase, None, f.transactional, in_progress.started_by,
                None, f"online: step {in_progress.step} of {len(in_progress.steps)}"
                if in_progress.phase != "active" else "online: both versions served"))
            continue
        if record is None:
            versions.append(VersionState(f.version, "pending", None, f.transactional))
            continue
        state, detail = "applied", None
        if record.state == "running":
            state = "partial"
            detail = f"{record.statements_done} of {len(f.statements)} statements done"
        elif record.checksum is not None and record.checksum != f.checksum:
            state, detail = "edited", "file changed since it was applied"
        versions.append(VersionState(f.version, state, record.applied_at, f.transactional,
                                     record.applied_by, record.duration_ms, detail))
    for record in applied.values():
        versions.append(VersionState(record.version, "missing", record.applied_at, None,
                                     record.applied_by, record.duration_ms,
                                     "applied, but no migration file has this version"))
    return StatusReport(target.display, versions, invalid, in_progress)


def verify(target: Target, extra_dirs: Sequence[Path] = ()) -> VerifyReport:
    """Compare applied migrations with their files. Read-only; takes no lock."""
    files = sources.read(sources.migration_dirs(extra_dirs))
    with connect(target) as conn:
        applied = read_applied(conn)
    report = VerifyReport(target.display)
    known = {f.version for f in files}
    for f in files:
        record = applied.get(f.version)
        if record is None:
            report.pending.append(f.version)
        elif record.state == "running":
            report.partial.append(f.version)
        elif record.checksum is None:
            report.unrecorded.append(f.version)
        else:
            if record.checksum != f.checksum:
                report.edited.append(f.version)
            if record.rollback_checksum != f.rollback_checksum:
                report.rollback_edited.append(f.version)
    report.missing = [v for v in applied if v not in known]
    return report

