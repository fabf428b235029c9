"""Which query protocol pgbench speaks (``-M``): what the application's driver would do.

A driver with a statement cache (JDBC, psycopg's ``prepare_threshold``, node-postgres named
queries, asyncpg) prepares each statement once per connection and then only binds and
executes it: ``-M prepared``. That is the default on a direct connection. Through PgBouncer
in transaction pooling a prepared statement lives on one server connection and the next
transaction may run on another, so it works only where PgBouncer tracks them itself:
version 1.21 and later with ``max_prepared_statements`` above 0. Older versions, or a
pooler whose version cannot be read, get ``-M extended`` (parse, bind and execute each
time, with unnamed statements that transaction pooling serves). Session pooling keeps a
client on one server connection: prepared works there on any version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg

from ..target import Target, one_line, through_pooler

PROTOCOLS = ("simple", "extended", "prepared")
# The first PgBouncer that keeps track of protocol-level prepared statements in transaction
# and statement pooling (max_prepared_statements, 1.21.0, October 2023).
PREPARED_SINCE = (1, 21)


@dataclass(frozen=True)
class Pooler:
    """What the pooler's admin console told (each ``None`` when it could not be read)."""

    version: tuple[int, ...] | None
    pool_mode: str | None
    max_prepared_statements: int | None
    unreadable: str | None = None  # why the admin console could not be read


@dataclass(frozen=True)
class ProtocolChoice:
    protocol: str  # pgbench -M
    reason: str  # one sentence, shown in every report
    pooler: Pooler | None = None  # None: a direct connection


def parse_version(text: str) -> tuple[int, ...] | None:
    """``(1, 18, 0)`` from PgBouncer's ``SHOW VERSION`` (``PgBouncer 1.18.0``)."""
    found = re.search(r"PgBouncer\s+(\d+(?:\.\d+)*)", text, re.IGNORECASE)
    return tuple(int(part) for part in found.group(1).split(".")) if found else None


def for_pooler(pooler: Pooler) -> ProtocolChoice:
    """The protocol for a connection through ``pooler``, and why."""
    version = ".".join(map(str, pooler.version)) if pooler.version else None
    name = f"PgBouncer {version}" if version else "a connection pooler"
    if pooler.pool_mode == "session":
        return ProtocolChoice("prepared", f"through {name} in session pooling, which keeps a "
                              "client on one server connection: prepared statements, as a "
                              "driver with a statement cache uses them", pooler)
    if pooler.version is None:
        why = f" ({pooler.unreadable})" if pooler.unreadable else ""
        return ProtocolChoice("extended", f"through {name} whose version could not be read"
                              f"{why}: the extended protocol with unnamed statements, which "
                              "transaction pooling serves on every version", pooler)
    if pooler.version[:2] >= PREPARED_SINCE:
        if (pooler.max_prepared_statements or 0) > 0:
            return ProtocolChoice("prepared", f"through {name} with max_prepared_statements = "
                                  f"{pooler.max_prepared_statements}: it tracks prepared "
                                  "statements in transaction pooling", pooler)
        return ProtocolChoice("extended", f"through {name} with max_prepared_statements = 0 "
                              "(set it above 0 to let clients prepare): extended protocol, "
                              "unnamed statements", pooler)
    return ProtocolChoice("extended", f"through {name}: before 1.21 PgBouncer cannot keep "
                          "prepared statements in transaction pooling (the next transaction "
                          "may run on another server connection): extended protocol, unnamed "
                          "statements", pooler)


def read_pooler(target: Target) -> Pooler:
    """Ask the pooler's admin console (database ``pgbouncer``) its version and settings.

    Needs a user PgBouncer lists in ``admin_users`` or ``stats_users``; anything else is
    reported as unreadable, never raised.
    """
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params: dict[str, Any] = {k: v for k, v in conninfo_to_dict(target.conninfo).items()
                              if v is not None}
    params["dbname"] = "pgbouncer"
    params.pop("options", None)  # the admin console rejects startup options
    try:
        with psycopg.connect(make_conninfo(**params), autocommit=True,
                             connect_timeout=5) as conn:
            row = conn.execute("SHOW VERSION").fetchone()
            settings = {str(r[0]): str(r[1]) for r in conn.execute("SHOW CONFIG").fetchall()}
    except psycopg.Error as exc:
        return Pooler(None, None, None, f"its admin console: {one_line(exc)}")
    version = parse_version(str(row[0])) if row else None
    prepared = settings.get("max_prepared_statements")
    return Pooler(version, settings.get("pool_mode"),
                  int(prepared) if prepared and prepared.isdigit() else None,
                  None if version else "SHOW VERSION named no PgBouncer version")


def choose(conn: psycopg.Connection[Any], target: Target,
           requested: str | None = None) -> ProtocolChoice:
    """The protocol for pgbench on ``target``: ``requested`` when given, else by the path.

    ``conn`` is an open connection to ``target``, which tells whether a pooler answers
    (``through_pooler``: the backend pid the login reported is not the server's).
    """
    pooled = through_pooler(conn)
    if requested:
        where = "through a pooler" if pooled else "direct"
        return ProtocolChoice(requested, f"--protocol {requested} ({where})",
                              read_pooler(target) if pooled else None)
    if not pooled:
        return ProtocolChoice("prepared", "a direct connection: prepared statements, as a "
                              "driver with a statement cache uses them")
    return for_pooler(read_pooler(target))
