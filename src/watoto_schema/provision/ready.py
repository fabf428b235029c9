"""Ready clones kept on the server for any process to take: ``testdb pool|take|give-back``.

IntegreSQL's protocol without its server process: the state lives in the databases'
labels on the server itself, so a Node or Go suite takes a database with one command
(or the same three SQL statements), and concurrent takers never get the same one.

- ``fill`` (``testdb pool``): ensure the template, drop the pool's ready clones of any
  other template (the migrations changed: the old pool is drained), and make ready clones
  up to ``size``. ``watch`` keeps doing it, woken by ``NOTIFY watoto_pool`` from ``take``.
- ``take``: under a transaction-scoped advisory lock of the pool, relabel the oldest ready
  clone of the current template as taken (new owner, new lease) and commit; when none is
  ready, clone one on the spot (the wait is the clone's time).
- ``give_back``: drop a clone (only a clone testdb made).

A ready clone is an ordinary labelled clone (``state: ready``, ``pool: NAME``): ``testdb
list`` shows it and ``testdb gc`` drops it when its lease runs out.
"""

from __future__ import annotations

import hashlib
import json
import select
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadConfig
from ..resources import sql_text
from ..target import Target, connect
from .clones import (
    DEFAULT_LEASE,
    Clone,
    _clone,
    _require_createdb,
    _strip_password,
    clone_names,
    owner,
)
from .template import (
    LOCK_CLASS,
    DataOptions,
    ManagedDatabase,
    Template,
    _label,
    conninfo_for,
    drop_database,
    ensure_template,
    managed_databases,
)

if TYPE_CHECKING:
    import psycopg

CHANNEL = "watoto_pool"
DEFAULT_POOL = "default"
MAX_SIZE = 100
_APP = "watoto-schema testdb pool"


@dataclass
class PoolState:
    pool: str
    template: str
    ready: list[str] = field(default_factory=list)
    made: list[str] = field(default_factory=list)
    drained: list[str] = field(default_factory=list)  # ready clones of another template


def _lock_id(pool: str) -> int:
    return int.from_bytes(hashlib.sha256(f"pool\0{pool}".encode()).digest()[:4], "big",
                          signed=True)


def _members(conn: psycopg.Connection[Any], pool: str) -> list[ManagedDatabase]:
    """The pool's ready clones, oldest first."""
    return [ManagedDatabase(name, False, True, json.loads(label), 0) for name, label in
            conn.execute(sql_text("provision/pool_ready.sql"), {"pool": pool}).fetchall()]


def _headroom(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT current_setting('max_connections')::int "
        "- current_setting('superuser_reserved_connections')::int "
        "- (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
    ).fetchone()
    return int(row[0]) if row else 0


def _check_size(conn: psycopg.Connection[Any], size: int) -> None:
    if not 1 <= size <= MAX_SIZE:
        raise BadConfig(f"--size must be between 1 and {MAX_SIZE} (got {size})")
    headroom = _headroom(conn)
    if size > headroom:
        raise BadConfig(f"--size {size} is more than the server's free connections "
                        f"({headroom} of max_connections): each database handed out needs "
                        "at least one; use a smaller pool or raise max_connections")


def _make_ready(target: Target, conn: psycopg.Connection[Any], template: Template, pool: str,
                lease: timedelta) -> Clone:
    [name] = clone_names(1, None)
    return _clone(target, conn, template, name, None, lease, owner(f"pool {pool}"),
                  {"pool": pool, "state": "ready"})


def fill(target: Target, *, size: int, pool: str = DEFAULT_POOL,
         data: DataOptions | None = None, extra_dirs: Sequence[Path] = (),
         lease: timedelta = DEFAULT_LEASE,
         on_event: Callable[[str], None] | None = None) -> PoolState:
    """Make the pool hold ``size`` ready clones of the current template."""
    with connect(target, application_name=_APP) as conn:
        _require_createdb(conn)
        _check_size(conn, size)
        return _fill(target, conn, size, pool, data or DataOptions(), extra_dirs, lease,
                     on_event)


def _fill(target: Target, conn: psycopg.Connection[Any], size: int, pool: str,
          data: DataOptions, extra_dirs: Sequence[Path], lease: timedelta,
          on_event: Callable[[str], None] | None) -> PoolState:
    template = ensure_template(target, conn, extra_dirs=extra_dirs, data=data,
                               on_event=on_event)
    state = PoolState(pool, template.name)
    for db in _members(conn, pool):
        if db.label.get("template") != template.name:
            drop_database(conn, db.name)
            state.drained.append(db.name)
        else:
            state.ready.append(db.name)
    if state.drained and on_event:
        on_event(f"drained {len(state.drained)} ready clone(s) of another template")
    while len(state.ready) < size:
        clone = _make_ready(target, conn, template, pool, lease)
        state.ready.append(clone.name)
        state.made.append(clone.name)
    return state


def watch(target: Target, *, size: int, pool: str = DEFAULT_POOL,
          data: DataOptions | None = None, extra_dirs: Sequence[Path] = (),
          lease: timedelta = DEFAULT_LEASE, recheck: float = 5.0,
          on_event: Callable[[str], None] | None = None,
          until: Callable[[], bool] = lambda: False) -> PoolState:
    """``fill`` again whenever a clone is taken (``NOTIFY``), and every ``recheck`` seconds
    (a template change drains the pool), until ``until()``; then drop the ready clones."""
    data = data or DataOptions()
    note = on_event or (lambda message: None)
    with connect(target, application_name=_APP) as conn:
        _require_createdb(conn)
        _check_size(conn, size)
        conn.execute(f"LISTEN {CHANNEL}")
        state = PoolState(pool, "")
        try:
            while not until():
                state = _fill(target, conn, size, pool, data, extra_dirs, lease, on_event)
                if state.made:
                    note(f"pool {pool}: {len(state.ready)} ready ({len(state.made)} made)")
                select.select([conn.fileno()], [], [], recheck)
                for _ in conn.notifies(timeout=0):
                    pass
        finally:
            if not conn.closed and not conn.broken:
                for db in _members(conn, pool):
                    drop_database(conn, db.name)
    return state


def take(target: Target, *, pool: str = DEFAULT_POOL, data: DataOptions | None = None,
         extra_dirs: Sequence[Path] = (), lease: timedelta = DEFAULT_LEASE,
         session: str | None = None) -> tuple[Clone, bool]:
    """A database of the current template for the caller: a ready one when the pool has
    one (``True``), else cloned now (``False``)."""
    data = data or DataOptions()
    began = time.perf_counter()
    with connect(target, application_name=_APP) as conn:
        template = ensure_template(target, conn, extra_dirs=extra_dirs, data=data)
        now = datetime.now(UTC)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, _lock_id(pool)))
            found = next((db for db in _members(conn, pool)
                          if db.label.get("template") == template.name), None)
            if found is not None:
                label = dict(found.label)
                label.update({"state": "taken", "owner": owner(session),
                              "taken_at": now.isoformat(),
                              "lease_until": (now + lease).isoformat()})
                _label(conn, found.name, label)
                conn.execute(f"NOTIFY {CHANNEL}")
        if found is not None:
            clone = Clone(found.name, _strip_password(conninfo_for(target, found.name)),
                          template.name, found.label.get("strategy"),
                          round((time.perf_counter() - began) * 1000, 2), now + lease)
            return clone, True
        [name] = clone_names(1, None)
        return _clone(target, conn, template, name, None, lease, owner(session)), False


def give_back(target: Target, names: Sequence[str]) -> list[str]:
    """Drop these clones (each must be a clone testdb made); nothing is dropped otherwise."""
    if not names:
        raise BadConfig("give the names of the databases to give back")
    with connect(target, application_name=_APP) as conn:
        clones = {db.name for db in managed_databases(conn) if db.kind == "clone"}
        strangers = [n for n in names if n not in clones]
        if strangers:
            raise BadConfig(f"not a clone made by testdb: {', '.join(strangers)}; nothing "
                            "was dropped")
        for name in names:
            drop_database(conn, name)
    return list(names)
