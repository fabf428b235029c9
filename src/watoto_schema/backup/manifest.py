"""What a backup folder holds: the manifest, file hashes, row counts, listing and pruning."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import BackupError, BackupRefused
from ..resources import sql_text

MANIFEST = "manifest.json"
PARTIAL = ".partial-"  # .<name>.partial-<host>-<pid>-<random>: a backup being written
VERIFIED = "verified.json"
FORMAT_VERSION = 1
DUMP_NAMES = {"custom": "dump.pgdump", "directory": "dump"}
ROW_COUNTS_NOTE = ("exact count(*) of every ordinary table in the dump's snapshot; each "
                   "partition is counted on its own, partitioned parents hold no rows and "
                   "are not listed")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dump_files(folder: Path, dump: str) -> dict[str, dict[str, Any]]:
    """sha256 and size of every file of the dump, by path relative to the backup folder."""
    root = folder / dump
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): {"sha256": sha256_file(p),
                                               "bytes": p.stat().st_size} for p in paths}


def check_files(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """Problems with the dump's files: missing, truncated, corrupted or unexpected ones."""
    problems: list[str] = []
    recorded: dict[str, dict[str, Any]] = manifest.get("files") or {}
    if not recorded:
        return ["the manifest lists no files"]
    for name, entry in sorted(recorded.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
            continue
        size = path.stat().st_size
        if size != entry.get("bytes"):
            verb = "truncated" if size < int(entry.get("bytes") or 0) else "grown"
            problems.append(f"{name}: {verb} ({size} bytes, manifest says {entry.get('bytes')})")
        elif sha256_file(path) != entry.get("sha256"):
            problems.append(f"{name}: corrupted (sha256 differs from the manifest)")
    dump = folder / str(manifest.get("dump", ""))
    if dump.is_dir():
        for path in sorted(p for p in dump.rglob("*") if p.is_file()):
            if path.relative_to(folder).as_posix() not in recorded:
                problems.append(f"{path.relative_to(folder).as_posix()}: not in the manifest")
    return problems


def row_counts(conn: Any) -> dict[str, int]:
    """Exact rows of every table a dump holds data of, as ``schema.table``."""
    from psycopg import sql

    tables = conn.execute(sql_text("backup/tables.sql")).fetchall()
    if not tables:
        return {}
    parts = [sql.SQL("SELECT {}, count(*) FROM ONLY {}").format(
        sql.Literal(f"{schema}.{name}"), sql.Identifier(schema, name))
        for schema, name in tables]
    rows = conn.execute(sql.SQL(" UNION ALL ").join(parts)).fetchall()
    return {str(name): int(count) for name, count in rows}


def user_relations(conn: Any) -> int:
    row = conn.execute(sql_text("backup/user_relations.sql")).fetchone()
    return int(row[0]) if row else 0


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write a JSON file whole or not at all (temp file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, default=str)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not folder.is_dir():
        raise BackupError(f"{folder}: no such backup folder")
    if not path.is_file():
        raise BackupError(f"{folder}: not a backup (no {MANIFEST})")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        from ..errors import BackupDamaged

        raise BackupDamaged(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") not in DUMP_NAMES:
        from ..errors import BackupDamaged

        raise BackupDamaged(f"{path}: not a watoto-schema backup manifest")
    return doc


# -- listing and pruning ---------------------------------------------------------------------

@dataclass
class BackupInfo:
    path: Path
    created_at: datetime
    database: str
    format: str
    bytes: int
    verified: dict[str, Any] | None = field(default=None)

    @property
    def verified_ok(self) -> bool | None:
        return None if self.verified is None else bool(self.verified.get("ok"))

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "name": self.path.name,
                "created_at": self.created_at.isoformat(), "database": self.database,
                "format": self.format, "bytes": self.bytes, "verified": self.verified_ok,
                "verified_at": (self.verified or {}).get("verified_at")}


def list_backups(directory: Path) -> list[BackupInfo]:
    """Complete backups under ``directory``, newest first (unfinished ``.partial`` ones and
    folders without a readable manifest are not backups)."""
    found: list[BackupInfo] = []
    if not directory.is_dir():
        return found
    for folder in directory.iterdir():
        if folder.name.startswith(".") or not (folder / MANIFEST).is_file():
            continue
        try:
            doc = load_manifest(folder)
            created = datetime.fromisoformat(str(doc["created_at"]))
        except (BackupError, KeyError, ValueError):
            continue
        verified = None
        if (folder / VERIFIED).is_file():
            try:
                verified = json.loads((folder / VERIFIED).read_text(encoding="utf-8"))
            except ValueError:
                verified = {"ok": False, "problems": ["unreadable verified.json"]}
        found.append(BackupInfo(folder, created, str(doc.get("database")), str(doc["format"]),
                                int(doc.get("bytes") or 0), verified))
    return sorted(found, key=lambda b: (b.created_at, b.path.name), reverse=True)


def unfinished(directory: Path) -> list[Path]:
    """Folders of backups whose writer died (on this host) before renaming them."""
    import socket

    found = []
    for folder in directory.glob(f".*{PARTIAL}*") if directory.is_dir() else []:
        try:
            host, pid, _ = folder.name.rsplit(PARTIAL, 1)[1].rsplit("-", 2)
            if host != socket.gethostname():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            found.append(folder)
        except (ValueError, PermissionError):  # not ours to judge: alive or unparsable
            continue
    return sorted(found)


@dataclass
class PruneDecision:
    backup: BackupInfo
    keep: bool
    reason: str


@dataclass
class Pruned:
    decisions: list[PruneDecision]
    unfinished: list[Path]  # left by killed runs


def prune(directory: Path, *, keep_daily: int = 7, keep_weekly: int = 4, yes: bool = False,
          on_event: Callable[[str], None] | None = None) -> Pruned:
    """Keep the newest backup of each of the last ``keep_daily`` days and ``keep_weekly``
    ISO weeks that have backups (per database, UTC); the rest goes, only with ``yes``, and
    so do the unfinished folders of runs that died."""
    if keep_daily < 0 or keep_weekly < 0:
        raise BackupError("--keep-daily and --keep-weekly cannot be negative")
    if keep_daily == 0 and keep_weekly == 0:
        raise BackupRefused("--keep-daily 0 --keep-weekly 0 would delete every backup; "
                            "delete the folders by hand if that is meant")
    decisions: list[PruneDecision] = []
    by_db: dict[str, list[BackupInfo]] = {}
    for b in list_backups(directory):  # newest first
        by_db.setdefault(b.database, []).append(b)
    for backups in by_db.values():
        days: dict[Any, BackupInfo] = {}
        weeks: dict[Any, BackupInfo] = {}
        for b in backups:
            days.setdefault(b.created_at.date(), b)
            weeks.setdefault(b.created_at.isocalendar()[:2], b)
        daily = {id(b): f"newest of {day}" for day, b in list(days.items())[:keep_daily]}
        weekly = {id(b): f"newest of week {w[0]}-W{w[1]:02d}"
                  for w, b in list(weeks.items())[:keep_weekly]}
        for b in backups:
            reason = daily.get(id(b)) or weekly.get(id(b))
            decisions.append(PruneDecision(b, reason is not None,
                                           reason or "beyond the daily and weekly ones kept"))
    leftovers = unfinished(directory)
    if yes:
        for path in [d.backup.path for d in decisions if not d.keep] + leftovers:
            if on_event:
                on_event(f"deleting {path}")
            shutil.rmtree(path)
    return Pruned(sorted(decisions, key=lambda d: d.backup.created_at, reverse=True),
                  leftovers)
