"""The PostgreSQL client programs a backup runs, and how they are given a password."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import BackupError
from ..target import Target, redact

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


def _tool_version(path: Path) -> tuple[int | None, str]:
    """The program's major version and its ``--version`` line."""
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True,
                             timeout=30).stdout.strip()
    except OSError:
        return None, ""
    match = _VERSION.search(out)
    return (int(match.group(1)) if match else None), out


def find_tool(name: str, server_major: int) -> tuple[Path, str]:
    """``pg_dump`` or ``pg_restore`` of the server's major version (else the nearest newer).

    A client older than the server cannot dump it; a newer one can, so it is the fallback.
    Returns the program and its ``--version`` line.
    """
    from ..local import find_bindir

    candidates: list[Path] = []
    if os.environ.get("WATOTO_PG_BINDIR"):
        candidates.append(Path(os.environ["WATOTO_PG_BINDIR"]) / name)
    candidates.append(Path(f"/usr/lib/postgresql/{server_major}/bin") / name)
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        candidates.extend(p / "bin" / name for p in sorted(
            (p for p in debian.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)))
    with contextlib.suppress(Exception):  # no server binaries: clients may be on PATH
        candidates.append(find_bindir() / name)
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    newer: list[tuple[int, Path, str]] = []
    for path in candidates:
        if not path.is_file():
            continue
        major, line = _tool_version(path)
        if major == server_major:
            return path, line
        if major is not None and major > server_major:
            newer.append((major, path, line))
    if newer:
        _, path, line = min(newer)
        return path, line
    raise BackupError(f"{name} for PostgreSQL {server_major} not found: install the client "
                      f"package (Debian: apt-get install postgresql-client-{server_major}) "
                      "or set WATOTO_PG_BINDIR")


def libpq_args(target: Target, dbname: str | None = None) -> tuple[list[str], dict[str, str]]:
    """``--dbname=...`` without the password, and the environment carrying it (PGPASSWORD).

    The password is never put on a command line, where ``ps`` would show it.
    """
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    env = dict(os.environ)
    params: dict[str, Any] = conninfo_to_dict(target.conninfo) if target.conninfo else {}
    password = params.pop("password", None)
    if password:
        env["PGPASSWORD"] = str(password)
    if dbname is not None:
        params["dbname"] = dbname
    return ([f"--dbname={make_conninfo(**params)}"] if params else []), env


def run(args: Sequence[str], env: dict[str, str], what: str) -> None:
    """Run a client program; a failure is one line with its last message, passwords masked."""
    proc = subprocess.run(list(args), capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        detail = "; ".join(lines[-3:]) or f"exit status {proc.returncode}"
        secret = env.get("PGPASSWORD")
        raise BackupError(redact(f"{what} failed: {detail}", (secret,) if secret else ()))
