"""Resolve which database a command talks to, connect to it, and keep passwords out of output."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import BadConfig, ConnectionFailed

if TYPE_CHECKING:
    import psycopg

ENV_URL = "WATOTO_DATABASE_URL"
# libpq's own environment: any of these means "let libpq decide" (it also reads the
# service file named by PGSERVICE / PGSERVICEFILE).
LIBPQ_ENV = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE")

# Redis URLs too (the cache layer, `--redis`): every error line goes through redact().
_URL_PASSWORD = re.compile(
    r"((?:postgres(?:ql)?(?:\+\w+)?|rediss?|unix)://[^:/@\s]*:)([^@\s]*)(@)")
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    """A database to work on: a libpq connection string and where it came from."""

    conninfo: str
    source: str  # "--dsn", "WATOTO_DATABASE_URL", "libpq environment", "--local"

    @property
    def display(self) -> str:
        """The connection string with any password masked."""
        return redact(self.conninfo) or "(libpq defaults)"


def resolve(dsn: str | None, environ: dict[str, str] | None = None) -> Target:
    """Pick the target: ``--dsn`` > ``WATOTO_DATABASE_URL`` > libpq's ``PG*`` environment."""
    env = os.environ if environ is None else environ
    if dsn:
        return Target(dsn, "--dsn")
    if env.get(ENV_URL):
        return Target(env[ENV_URL], ENV_URL)
    if any(env.get(name) for name in LIBPQ_ENV):
        return Target("", "libpq environment")
    raise BadConfig(
        "no database to work on: pass --dsn URL, set WATOTO_DATABASE_URL, set PGHOST/PGDATABASE "
        "(or PGSERVICE), or use --local for the embedded cluster (`watoto-schema local start`)"
    )


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Mask passwords in URLs, ``password=`` pairs and any of ``secrets`` found in ``text``."""
    text = _URL_PASSWORD.sub(r"\1***\3", text)
    text = _KV_PASSWORD.sub(r"\1***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def password_of(conninfo: str) -> str | None:
    """Return the password a connection string carries, if any (used only to scrub output)."""
    if not conninfo:
        return os.environ.get("PGPASSWORD")
    from psycopg.conninfo import conninfo_to_dict

    try:
        value = conninfo_to_dict(conninfo).get("password")
    except Exception:  # an unparsable string: the regexes in redact() still apply
        return None
    return str(value) if value else os.environ.get("PGPASSWORD")


def connect(target: Target, *, autocommit: bool = True, application_name: str = "watoto-schema",
            connect_timeout: int = 10) -> psycopg.Connection[tuple[object, ...]]:
    """Open a psycopg connection, turning every failure into a one-line ``ConnectionFailed``."""
    import psycopg

    try:
        return psycopg.connect(
            target.conninfo,
            autocommit=autocommit,
            application_name=application_name,
            connect_timeout=connect_timeout,
        )
    except psycopg.ProgrammingError as exc:  # malformed connection string
        raise BadConfig(f"invalid connection string from {target.source}: {one_line(exc)}") from exc
    except psycopg.Error as exc:
        raise ConnectionFailed(f"cannot connect ({target.source}): {one_line(exc)}") from exc


def one_line(exc: BaseException | str) -> str:
    """Collapse a (possibly multi-line) driver message into one line."""
    parts = [part.strip() for part in str(exc).splitlines() if part.strip()]
    return "; ".join(parts) if parts else type(exc).__name__


def through_pooler(conn: psycopg.Connection[Any]) -> bool:
    """Whether ``conn`` reaches PostgreSQL through a connection pooler such as PgBouncer.

    A server tells each new session its process id (BackendKeyData, ``conn.info.backend_pid``);
    a pooler answers the login itself and makes one up, so it differs from the
    ``pg_backend_pid()`` of the server session that runs the query. Needs no privilege and
    no pooler admin access, and holds for every pool mode and pooler version.
    """
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    return row is not None and int(row[0]) != conn.info.backend_pid


def require_direct(conn: psycopg.Connection[Any], what: str) -> None:
    """Refuse (exit 3) a connection through a pooler: ``what`` needs a session-level lock."""
    from .errors import Refused

    if through_pooler(conn):
        raise Refused(f"{what} holds a session-level advisory lock, which a connection pooler "
                      "(PgBouncer in transaction mode) does not keep: this target goes through "
                      "one; nothing was done: use the direct DSN of the server (for the local "
                      "cluster: `watoto-schema local url`)")


def require_primary(target: Target) -> None:
    """Refuse (exit 3) before any work when ``target`` is a read-only standby."""
    from .errors import Refused

    with connect(target) as conn:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    if row and row[0]:
        raise Refused(f"the target is a read-only standby ({target.display}): nothing was "
                      "done; point at the primary (a multi-host URL with "
                      "target_session_attrs=read-write follows it)")


def drop_database(conn: psycopg.Connection[Any], name: str, *,
                  may_be_template: bool = False) -> None:
    """Drop database ``name`` if it exists, even with sessions connected (``FORCE``).

    A template must be unmarked first; ``may_be_template`` asks the catalog and does so.
    Runs in autocommit (DROP DATABASE cannot run in a transaction block).
    """
    from psycopg import sql

    ident = sql.Identifier(name)
    if may_be_template and conn.execute(
            "SELECT datistemplate FROM pg_database WHERE datname = %s",
            (name,)).fetchone() == (True,):
        conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(ident))
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


def dict_rows(conn: psycopg.Connection[Any], query: str,
              params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run ``query`` (a shipped .sql text, values as bind parameters); rows as dicts."""
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()
