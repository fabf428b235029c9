"""Apply, roll back and report versioned migrations.

yoyo-migrations reads the migration files (headers, ``-- depends:``, statement splitting,
``.rollback.sql`` pairing) and runs their steps. Around it this module adds what yoyo
lacks (``../shared/NOTES.md`` section 2):

* a transactional migration, its ``schema_migrations`` row and yoyo's own bookkeeping are
  committed in **one** transaction on one connection, so a crash can never leave an
  applied but unrecorded migration;
* a session-level advisory lock serialises concurrent runs; unlike yoyo's lock row it
  vanishes with the session, so a killed runner leaves no stale lock;
* ``status`` only reads: it never creates tables and never waits on the lock.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import LockNotAcquired, MigrationFailed, UnknownVersion
from .resources import migrations_dir
from .target import Target, connect, one_line

if TYPE_CHECKING:
    import psycopg

YOYO_TABLE = "_yoyo_migration"
LEDGER = "schema_migrations"
# pg_advisory_lock(classid, objid): one lock per database for migration runs.
LOCK_CLASS = 0x5741_544F  # "WATO"
LOCK_MIGRATE = 1


@dataclass
class VersionState:
    """One migration as ``status`` reports it."""

    version: str
    state: str  # "applied" | "pending"
    applied_at: datetime | None
    transactional: bool
    path: str


@dataclass
class StatusReport:
    target: str
    versions: list[VersionState]

    @property
    def applied(self) -> list[str]:
        return [v.version for v in self.versions if v.state == "applied"]

    @property
    def pending(self) -> list[str]:
        return [v.version for v in self.versions if v.state == "pending"]


@dataclass
class RunResult:
    """What ``migrate`` or ``rollback`` did."""

    direction: str  # "apply" | "rollback"
    target: str
    done: list[str] = field(default_factory=list)
    seconds: float = 0.0


def migration_dirs(extra: Sequence[Path] = ()) -> list[Path]:
    """The shipped migrations folder followed by any extra folders."""
    return [migrations_dir(), *extra]


def read(dirs: Sequence[Path]) -> Any:
    """Read the migration files of ``dirs`` with yoyo (a ``MigrationList``)."""
    from yoyo import read_migrations

    migrations = read_migrations(*(str(d) for d in dirs))
    for m in migrations:
        m.load()
    return migrations


def _backend_class() -> type:
    """Build the yoyo backend subclass lazily: importing yoyo costs ~70 ms."""
    from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
    from yoyo.connections import DatabaseURI

    class WatotoBackend(PostgresqlPsycopgBackend):  # type: ignore[misc]
        """yoyo's psycopg 3 backend on our connection, recording atomically."""

        def __init__(self, target: Target) -> None:
            self.target = target
            uri = DatabaseURI("postgresql+psycopg", None, None, None, None, "", {})
            super().__init__(uri, YOYO_TABLE)

        def connect(self, dburi: Any) -> Any:
            return connect(self.target, autocommit=True)

        def copy(self) -> Any:
            return type(self)(self.target)

        def init_database(self) -> None:
            # yoyo's lock table only; its transactional-DDL probe is pointless on PostgreSQL.
            self.create_lock_table()

        def _record(self, migration: Any, direction: str) -> None:
            if direction == "apply":
                self.mark_one(migration, log=False)
            else:
                self.unmark_one(migration, log=False)
            self.log_migration(migration, direction)
            cur = self.connection.cursor()
            exists = cur.execute("SELECT to_regclass(%s) IS NOT NULL", (LEDGER,)).fetchone()
            if exists and exists[0]:
                if direction == "apply":
                    cur.execute(
                        "INSERT INTO schema_migrations (version) VALUES (%s) "
                        "ON CONFLICT (version) DO UPDATE SET applied_at = DEFAULT",
                        (migration.id,),
                    )
                else:
                    cur.execute("DELETE FROM schema_migrations WHERE version = %s",
                                (migration.id,))

        def _run(self, migration: Any, direction: str) -> None:
            self.ensure_internal_schema_updated()
            # yoyo prints the rows of any SELECT in a migration: keep stdout for --json.
            with redirect_stdout(sys.stderr):
                self._run_steps(migration, direction)

        def _run_steps(self, migration: Any, direction: str) -> None:
            try:
                if migration.use_transactions:
                    # Steps, ledger row and yoyo's row commit together or not at all.
                    with self.transaction():
                        migration.process_steps(self, direction)
                        self._record(migration, direction)
                else:
                    # Statements run one by one in autocommit; recorded only after all
                    # of them succeeded.
                    migration.process_steps(self, direction)
                    with self.transaction():
                        self._record(migration, direction)
            except self.DatabaseError as exc:
                raise MigrationFailed(migration.id, direction, one_line(exc)) from exc

        def apply_one(self, migration: Any, force: bool = False, mark: bool = True) -> None:
            self._run(migration, "apply")

        def rollback_one(self, migration: Any, force: bool = False) -> None:
            self._run(migration, "rollback")

    return WatotoBackend


def open_backend(target: Target) -> Any:
    return _backend_class()(target)


@contextmanager
def migration_lock(conn: psycopg.Connection[Any], wait: float) -> Iterator[None]:
    """Hold the database's migration lock (a session-level advisory lock) for the block.

    Polls ``pg_try_advisory_lock`` for up to ``wait`` seconds; the lock dies with the
    session, so a runner killed with ``kill -9`` leaves nothing behind.
    """
    deadline = time.monotonic() + wait
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                           (LOCK_CLASS, LOCK_MIGRATE)).fetchone()
        if row and row[0]:
            break
        if time.monotonic() >= deadline:
            raise LockNotAcquired(wait, _lock_holder(conn))
        time.sleep(0.1)
    try:
        yield
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, LOCK_MIGRATE))


def _lock_holder(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(
        """
        SELECT a.pid, coalesce(nullif(a.application_name, ''), '?'), a.client_addr::text,
               now() - a.backend_start
          FROM pg_locks l JOIN pg_stat_activity a USING (pid)
         WHERE l.locktype = 'advisory' AND l.granted
           AND l.classid = %s::oid AND l.objid = %s::oid AND l.database = (
               SELECT oid FROM pg_database WHERE datname = current_database())
        """,
        (LOCK_CLASS, LOCK_MIGRATE),
    ).fetchone()
    if not row:
        return "holder already gone"
    pid, app, addr, age = row
    return f"pid {pid}, application {app}, from {addr or 'local socket'}, connected {age}"


def _applied(conn: psycopg.Connection[Any]) -> dict[str, datetime | None]:
    """Applied versions and when, read without creating anything."""
    row = conn.execute("SELECT to_regclass(%s), to_regclass(%s)", (YOYO_TABLE, LEDGER)).fetchone()
    if not row or row[0] is None:
        return {}
    applied: dict[str, datetime | None] = {
        r[0]: r[1] for r in conn.execute(
            "SELECT migration_id, applied_at_utc FROM _yoyo_migration ORDER BY applied_at_utc")
    }
    if row[1] is not None:
        for version, applied_at in conn.execute("SELECT version, applied_at FROM schema_migrations"):
            if version in applied:
                applied[version] = applied_at
    return applied


def status(target: Target, extra_dirs: Sequence[Path] = ()) -> StatusReport:
    """Report every known migration as applied or pending. Read-only; takes no lock."""
    migrations = read(migration_dirs(extra_dirs))
    with connect(target) as conn:
        applied = _applied(conn)
    versions = [
        VersionState(
            version=m.id,
            state="applied" if m.id in applied else "pending",
            applied_at=applied.get(m.id),
            transactional=bool(m.use_transactions),
            path=m.path,
        )
        for m in migrations
    ]
    return StatusReport(target=target.display, versions=versions)


def resolve_version(migrations: Any, version: str) -> Any:
    """Find the migration named ``version`` (its full id, or its unique numeric prefix)."""
    ids = [m.id for m in migrations]
    exact = [m for m in migrations if m.id == version]
    if exact:
        return exact[0]
    prefixed = [m for m in migrations if m.id.split("_", 1)[0] == version]
    if len(prefixed) == 1:
        return prefixed[0]
    raise UnknownVersion(version, ids)


def migrate(target: Target, *, to: str | None = None, extra_dirs: Sequence[Path] = (),
            lock_wait: float = 60.0) -> RunResult:
    """Apply pending migrations (up to and including ``to``), each in its own transaction.

    Idempotent: a second run finds nothing to do. Concurrent runs serialise on the
    migration lock and apply each migration exactly once.
    """
    from yoyo.migrations import ancestors

    started = time.monotonic()
    migrations = read(migration_dirs(extra_dirs))
    wanted = None
    if to is not None:
        goal = resolve_version(migrations, to)
        wanted = {goal.id} | {m.id for m in ancestors(goal, migrations)}
    result = RunResult("apply", target.display)
    backend = open_backend(target)
    try:
        with migration_lock(backend.connection, lock_wait):
            backend.init_database()
            todo = backend.to_apply(migrations)
            for m in todo:
                if wanted is not None and m.id not in wanted:
                    continue
                backend.apply_one(m)
                result.done.append(m.id)
    finally:
        backend.connection.close()
    result.seconds = time.monotonic() - started
    return result


def rollback(target: Target, *, to: str | None = None, steps: int | None = None,
             everything: bool = False, extra_dirs: Sequence[Path] = (),
             lock_wait: float = 60.0) -> RunResult:
    """Roll back applied migrations, newest first, each in its own transaction.

    Exactly one of ``to`` (keep that version and what it depends on), ``steps`` (the last
    N applied) or ``everything`` selects what goes.
    """
    from yoyo.migrations import ancestors

    if sum(x is not None and x is not False for x in (to, steps, everything or None)) != 1:
        raise ValueError("rollback needs exactly one of to, steps, everything")
    started = time.monotonic()
    migrations = read(migration_dirs(extra_dirs))
    keep: set[str] = set()
    if to is not None:
        goal = resolve_version(migrations, to)
        keep = {goal.id} | {m.id for m in ancestors(goal, migrations)}
    result = RunResult("rollback", target.display)
    backend = open_backend(target)
    try:
        with migration_lock(backend.connection, lock_wait):
            backend.init_database()
            todo = [m for m in backend.to_rollback(migrations) if m.id not in keep]
            if steps is not None:
                todo = todo[:steps]
            for m in todo:
                backend.rollback_one(m)
                result.done.append(m.id)
    finally:
        backend.connection.close()
    result.seconds = time.monotonic() - started
    return result
