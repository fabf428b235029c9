"""``pitr base-backup``: ``pg_basebackup`` into a new folder, plus a small manifest."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import PitrError, Refused
from ..local import find_bindir
from ..target import Target, connect, one_line

MANIFEST = "watoto-backup.json"


@dataclass
class BaseBackup:
    directory: str
    format: str  # "tar" or "plain"
    wal: str  # "stream" (the backup carries its WAL) or "none" (the archive must have it)
    start_lsn: str
    start_wal_file: str
    start_time: str  # the backup_label's START TIME, as the server wrote it
    started_at: str  # the server's now() before the backup, ISO 8601 with offset
    finished_at: str  # the server's now() after it
    timeline: int
    server_version: str
    user: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_label(text: str) -> dict[str, str]:
    """The ``KEY: value`` lines of a backup_label."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def read_label(directory: Path, fmt: str) -> str:
    if fmt == "plain":
        return (directory / "backup_label").read_text()
    base = next(iter(sorted(directory.glob("base.tar*"))), None)
    if base is None:
        raise PitrError(f"{directory}: no base.tar in the backup")
    with tarfile.open(base, "r:*") as tar:
        member = tar.extractfile("backup_label")
        if member is None:
            raise PitrError(f"{base}: no backup_label inside")
        return member.read().decode()


def load(directory: Path) -> BaseBackup:
    """The manifest of a backup made by ``base_backup``."""
    path = directory / MANIFEST
    if not path.is_file():
        raise PitrError(f"{directory} is not a base backup made by `pitr base-backup` "
                        f"(no {MANIFEST})")
    return BaseBackup(**json.loads(path.read_text()))


def base_backup(target: Target, to: Path, *, fmt: str = "tar", wal: str = "stream",
                timeout: float = 3600) -> BaseBackup:
    """Run ``pg_basebackup`` into ``to`` (which must not exist or be empty: never
    overwrites) and write ``watoto-backup.json`` next to its files."""
    if to.exists() and (not to.is_dir() or any(to.iterdir())):
        raise Refused(f"{to} exists and is not empty: a base backup never overwrites; "
                      "choose a new folder")
    with connect(target) as conn:
        row = conn.execute("SELECT now(), current_setting('server_version'), current_user"
                           ).fetchone()
        assert row is not None and isinstance(row[0], datetime)
        started_at, version, user = row[0], row[1], row[2]
    binary = find_bindir() / "pg_basebackup"
    args = [str(binary), *(["--dbname", target.conninfo] if target.conninfo else []),
            "--pgdata", str(to), "--format", fmt,
            "--wal-method", wal, "--checkpoint", "fast", "--no-password",
            "--label", "watoto-schema pitr base-backup"]
    made = not to.exists()
    clock = time.monotonic()
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        _forget(to, made)
        raise PitrError(f"pg_basebackup did not finish within {timeout:g}s") from None
    seconds = time.monotonic() - clock
    if proc.returncode != 0:
        _forget(to, made)
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise PitrError("pg_basebackup failed: " + one_line(detail[-1] if detail
                                                            else f"exit {proc.returncode}"))
    with connect(target) as conn:
        row = conn.execute("SELECT now()").fetchone()
        assert row is not None and isinstance(row[0], datetime)
        finished_at = row[0]
    label = parse_label(read_label(to, fmt))
    start = label.get("START WAL LOCATION", "")  # "0/2000028 (file 000000010000000000000002)"
    lsn, _, rest = start.partition(" (file ")
    backup = BaseBackup(directory=str(to.absolute()), format=fmt, wal=wal, start_lsn=lsn,
                        start_wal_file=rest.rstrip(")"), start_time=label.get("START TIME", ""),
                        started_at=started_at.isoformat(), finished_at=finished_at.isoformat(),
                        timeline=int(label.get("START TIMELINE", "1")),
                        server_version=str(version), user=str(user),
                        seconds=round(seconds, 3))
    (to / MANIFEST).write_text(json.dumps(backup.as_dict(), indent=2) + "\n")
    return backup


def _forget(to: Path, made: bool) -> None:
    """Remove what a failed pg_basebackup left (it cleans up itself; this is belt and braces)."""
    import shutil

    if made:
        shutil.rmtree(to, ignore_errors=True)
    elif to.is_dir():
        for child in to.iterdir():
            shutil.rmtree(child) if child.is_dir() else os.unlink(child)
