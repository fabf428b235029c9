"""``pitr setup``: the ALTER SYSTEM statements of a safe archiving setup (basic_archive)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import Any

from psycopg import sql

from ..errors import BadConfig, PitrError
from ..resources import sql_text
from ..target import Target, connect


@dataclass
class Statement:
    sql: str
    setting: str
    restart: bool  # the setting takes effect only after a server restart


@dataclass
class SetupPlan:
    statements: list[Statement]
    applied: bool

    @property
    def restart_needed(self) -> bool:
        return any(s.restart for s in self.statements)

    def as_dict(self) -> dict[str, Any]:
        return {"statements": [asdict(s) for s in self.statements], "applied": self.applied,
                "restart_needed": self.restart_needed}


def plan(target: Target, archive_dir: str, *, apply: bool = False) -> SetupPlan:
    """The statements that make the server archive WAL with basic_archive into
    ``archive_dir`` (a folder on the database host the server's user can write); with
    ``apply``, run them (superuser only) and reload the configuration."""
    if not PurePosixPath(archive_dir).is_absolute():
        raise BadConfig(f"--archive-dir {archive_dir!r}: give an absolute path on the "
                        "database host")
    with connect(target) as conn:
        rows = conn.execute(sql_text("pitr/settings.sql")).fetchall()
        current = {str(name): (str(value), str(context)) for name, value, context in rows}
        for name in ("wal_level", "archive_mode", "archive_library", "archive_command"):
            if name not in current:  # hidden from roles without pg_read_all_settings
                raise PitrError(f"cannot read {name}: run `pitr setup` as a superuser or a "
                                "member of pg_read_all_settings")
        if int(current["server_version_num"][0]) < 150000:
            raise PitrError("archive_library (basic_archive) needs PostgreSQL 15 or later; "
                            "on older servers use a backup tool's archive_command")
        row = conn.execute("SELECT current_setting('basic_archive.archive_directory', true)"
                           ).fetchone()
        directory = str(row[0]) if row and row[0] else ""
        wanted: list[tuple[str, str, bool]] = []
        if current["wal_level"][0] not in ("replica", "logical"):
            wanted.append(("wal_level", "replica", True))
        if current["archive_mode"][0] not in ("on", "always"):
            wanted.append(("archive_mode", "on", True))
        if current["archive_library"][0] != "basic_archive":
            wanted.append(("archive_library", "basic_archive",
                           current["archive_library"][1] == "postmaster"))
        if current["archive_command"][0]:  # PostgreSQL 16+ refuses both being set
            wanted.append(("archive_command", "", current["archive_command"][1] == "postmaster"))
        if directory != archive_dir:
            wanted.append(("basic_archive.archive_directory", archive_dir, False))
        statements = [Statement(sql.SQL("ALTER SYSTEM SET {} = {}").format(
            sql.Identifier(*name.split(".")), sql.Literal(value)).as_string(conn), name, restart)
            for name, value, restart in wanted]
        if directory != archive_dir:
            # PostgreSQL 15 accepts ALTER SYSTEM for basic_archive's setting only once the
            # module is loaded in the session (it also proves the module is installed).
            statements.insert(0, Statement("LOAD 'basic_archive'", "", False))
        if apply and statements:
            row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
                               ).fetchone()
            if not (row and row[0]):
                raise PitrError("pitr setup --apply needs a superuser (ALTER SYSTEM); nothing "
                                "was changed")
            for statement in statements:
                conn.execute(statement.sql)
            conn.execute("SELECT pg_reload_conf()")
    return SetupPlan(statements, applied=apply and bool(statements))
