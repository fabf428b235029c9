"""Apply, roll back, verify and report versioned migrations.

Migration files follow yoyo-migrations' format and rules (``sources`` reads them without
importing yoyo); yoyo's own tables are kept, so plain yoyo still reads what we record, and
yoyo splits non-transactional migrations into statements. Around that this module adds
what yoyo lacks (``docs/decisions/0005-migration-engine.md``):

* a transactional migration, its ``schema_migrations`` row, yoyo's bookkeeping and our
  history row (content checksums, who, how long) commit in **one** transaction;
* a session-level advisory lock serialises concurrent runs and dies with its session,
  so a runner killed with ``kill -9`` leaves nothing to unlock;
* every migration runs under ``lock_timeout`` and ``statement_timeout``; a lock not
  granted in time rolls the migration back and retries it with backoff, then stops
  naming the blocking session;
* ``-- transactional: false`` migrations run statement by statement in autocommit,
  resumable after a failure or a kill (see ``concurrent``);
* an applied migration whose file was edited stops ``migrate`` until ``repair``.

``status`` and ``verify`` only read: they never create tables and never wait on the lock.
"""

from __future__ import annotations

import getpass
import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import sources
from .errors import (
    BadConfig,
    ConnectionLost,
    LockNotAcquired,
    MigrationBlocked,
    MigrationEdited,
    MigrationFailed,
    MigrationMissing,
    Refused,
)
from .resources import sql_text
from .retry import LOCK_NOT_AVAILABLE, backoff_delay
from .sources import MigrationFile
from .target import Target, connect, one_line

if TYPE_CHECKING:
    import psycopg

YOYO_TABLE = "_yoyo_migration"
LEDGER = "schema_migrations"
HISTORY = "watoto_migration_history"
# pg_advisory_lock(classid, objid): one lock per database for migration runs.
LOCK_CLASS = 0x5741_544F  # "WATO"
LOCK_MIGRATE = 1


@dataclass
class RunOptions:
    """How a run behaves; the files' own headers override the two timeouts."""

    lock_timeout: str = "3s"
    statement_timeout: str = "30min"
    retries: int = 5
    backoff: float = 0.5  # seconds before the first retry; doubles, capped at 10 s
    lock_wait: float = 60.0  # how long to wait for another run's migration lock
    # Called on the run's connection after each migration committed (e.g. waiting for the
    # standbys to replay it); an error it raises ends the run, that migration kept.
    after_each: Callable[[psycopg.Connection[Any], str], None] | None = None
    # Called before each statement of a non-transactional migration (e.g. waiting while the
    # standbys lag: big concurrent index builds make them fall further behind).
    before_concurrent: Callable[[psycopg.Connection[Any], str], None] | None = None
    # Called with every migration file and those about to be applied, before the first one
    # runs (in a dry run too); it may raise to refuse the run (the lint gate, #14).
    before_apply: Callable[[list[MigrationFile], list[MigrationFile]], None] | None = None

    def settings_for(self, migration: MigrationFile) -> dict[str, str]:
        return {
            "lock_timeout": migration.settings.get("lock_timeout", self.lock_timeout),
            "statement_timeout": migration.settings.get("statement_timeout",
                                                        self.statement_timeout),
        }


@dataclass
class AppliedState:
    """What the database records about one applied (or half-applied) migration."""

    version: str
    applied_at: datetime | None
    state: str  # "applied" | "running" (a non-transactional migration not finished)
    checksum: str | None  # None: applied before history existed (or by plain yoyo)
    rollback_checksum: str | None
    statements_done: int
    applied_by: str | None
    duration_ms: int | None


@dataclass
class VersionState:
    """One migration as ``status`` reports it."""

    version: str
    state: str  # applied | pending | partial | edited | missing
    applied_at: datetime | None
    transactional: bool | None
    applied_by: str | None = None
    duration_ms: int | None = None
    detail: str | None = None


@dataclass
class InvalidIndex:
    schema: str
    index: str
    table: str
    build_in_progress: bool


@dataclass
class StatusReport:
    target: str
    versions: list[VersionState]
    invalid_indexes: list[InvalidIndex] = field(default_factory=list)

    def _with(self, *states: str) -> list[str]:
        return [v.version for v in self.versions if v.state in states]

    @property
    def applied(self) -> list[str]:
        return self._with("applied", "edited")

    @property
    def pending(self) -> list[str]:
        return self._with("pending")

    @property
    def partial(self) -> list[str]:
        return self._with("partial")


@dataclass
class RunResult:
    """What ``migrate``, ``rollback`` or ``repair`` did (or, dry, would do)."""

    direction: str  # "apply" | "rollback" | "repair" | "baseline"
    target: str
    done: list[str] = field(default_factory=list)
    seconds: float = 0.0
    retries: int = 0
    sql: str | None = None  # dry run: the exact script


@dataclass
class VerifyReport:
    target: str
    edited: list[str] = field(default_factory=list)
    rollback_edited: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)
    unrecorded: list[str] = field(default_factory=list)  # applied without a checksum

    @property
    def clean(self) -> bool:
        return not (self.edited or self.rollback_edited or self.missing or self.pending
                    or self.partial)


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
    with connect(target) as conn:
        applied = read_applied(conn)
        invalid = _invalid_indexes(conn)
    versions: list[VersionState] = []
    for f in files:
        record = applied.pop(f.version, None)
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
    return StatusReport(target.display, versions, invalid)


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


# -- yoyo's tables, on our connection ------------------------------------------------------

# yoyo's internal schema version (yoyo.internalmigrations); a database at this version needs
# nothing from yoyo, so a run does not import it.
YOYO_SCHEMA_VERSION = 2
_YOYO_TABLES = ("yoyo_lock", "_yoyo_version", YOYO_TABLE, "_yoyo_log")


def _backend_class() -> type:
    """Build the yoyo backend subclass lazily: importing yoyo costs ~40-70 ms."""
    from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
    from yoyo.connections import DatabaseURI

    class WatotoBackend(PostgresqlPsycopgBackend):  # type: ignore[misc]
        """yoyo's psycopg 3 backend on our connection (only to create or upgrade its tables)."""

        def __init__(self, conn: psycopg.Connection[Any]) -> None:
            self._ours = conn
            uri = DatabaseURI("postgresql+psycopg", None, None, None, None, "", {})
            super().__init__(uri, YOYO_TABLE)

        def connect(self, dburi: Any) -> Any:
            return self._ours

    return WatotoBackend


def _yoyo_hash(version: str) -> str:
    """yoyo's key for a migration (yoyo.migrations.get_migration_hash)."""
    return hashlib.sha256(version.encode("utf-8")).hexdigest()


class _Runner:
    """One run: the connection, the run's options and the shared recording logic.

    A transactional migration is one round trip: ``BEGIN``, its settings, the file's SQL,
    the four records (yoyo's two rows, ``schema_migrations``, our history) and ``COMMIT``
    go to the server as one script.
    """

    def __init__(self, target: Target, options: RunOptions,
                 on_event: Callable[[str], None] | None) -> None:
        self.target = target
        self.options = options
        self.on_event = on_event or (lambda message: None)
        self.conn: psycopg.Connection[Any] = connect(target)
        self.retries = 0
        query = "SELECT current_user"
        if self.conn.info.server_version >= 140000:
            # A killed client's transaction is aborted within a second, even mid-statement.
            query += "; SET client_connection_check_interval = 1000"
        try:
            row = self.conn.execute(query).fetchone()  # the first result: current_user
        except BaseException:
            self.conn.close()
            raise
        assert row is not None
        self.user, self.host = getpass.getuser(), socket.gethostname()  # not getfqdn: DNS
        self.applied_by = f"{row[0]} ({self.user}@{self.host})"

    def close(self) -> None:
        self.conn.close()

    def bootstrap(self) -> None:
        """Create yoyo's tables and our history table if missing, in one transaction.

        The caller holds the migration lock, so yoyo's own lock row is not needed here.
        When everything is in place (one catalog query says so) yoyo is not even imported.
        """
        tables = (*_YOYO_TABLES, HISTORY)
        row = self.conn.execute(
            "SELECT " + ", ".join(["to_regclass(%s) IS NOT NULL"] * len(tables)), tables
        ).fetchone()
        if row is not None and all(row):
            version = self.conn.execute("SELECT max(version) FROM _yoyo_version").fetchone()
            if version is not None and version[0] == YOYO_SCHEMA_VERSION:
                return
        from yoyo import internalmigrations

        backend = _backend_class()(self.conn)
        with backend.transaction():
            if self.conn.execute("SELECT to_regclass('yoyo_lock')").fetchone() == (None,):
                backend.create_lock_table()
            if internalmigrations.needs_upgrading(backend):
                internalmigrations.upgrade(backend)
            self.conn.execute(sql_text("engine/history.sql"))

    # -- recording ---------------------------------------------------------------------
    def _record_sql(self, m: MigrationFile, direction: str, ms: int | None | str) -> str:
        """The SQL that records the outcome; the caller runs it inside the transaction.

        ``ms`` is the duration to record, or ``"server"``: measured by the server from the
        start of the transaction.
        """
        import uuid

        from psycopg import sql

        def lit(value: Any) -> str:
            return sql.Literal(value).as_string(self.conn)

        version, key = lit(m.version), lit(_yoyo_hash(m.version))
        now = datetime.now(UTC).replace(tzinfo=None)
        out = [f'INSERT INTO "{YOYO_TABLE}" ("migration_hash", "migration_id", '
               f'"applied_at_utc") VALUES ({key}, {version}, {lit(now)})'
               if direction == "apply" else
               f'DELETE FROM "{YOYO_TABLE}" WHERE "migration_hash" = {key}',
               'INSERT INTO "_yoyo_log" ("id", "migration_hash", "migration_id", "operation", '
               f'"username", "hostname", "created_at_utc") VALUES ({lit(str(uuid.uuid1()))}, '
               f"{key}, {version}, {lit(direction)}, {lit(self.user)}, {lit(self.host)}, "
               f"{lit(now)})"]
        # The ledger only once a migration created it (0001 does, in this very transaction),
        # and no more once a rollback dropped it: decided by the server, in the script.
        ledger = (f"INSERT INTO {LEDGER} (version) VALUES ({version}) "
                  "ON CONFLICT (version) DO UPDATE SET applied_at = DEFAULT"
                  if direction == "apply" else f"DELETE FROM {LEDGER} WHERE version = {version}")
        tag = "$watoto_ledger$"
        if tag in ledger:
            raise BadConfig(f"migration version {m.version!r} cannot contain {tag}")
        out.append(f"DO {tag} BEGIN IF to_regclass({lit(LEDGER)}) IS NOT NULL THEN {ledger}; "
                   f"END IF; END {tag}")
        if direction == "apply":
            duration = sql.SQL("(extract(epoch FROM clock_timestamp() - now()) * 1000)::int"
                               if ms == "server" else "{}").format(sql.Literal(ms))
            out.append(self._history_sql(m, "applied", m.statement_count, duration)
                       .as_string(self.conn))
        else:
            out.append(f"DELETE FROM {HISTORY} WHERE version = {version}")
        return ";\n".join(out) + ";\n"

    def _history_sql(self, m: MigrationFile, state: str, done: int,
                     duration: psycopg.sql.Composable) -> psycopg.sql.Composed:
        from psycopg import sql

        return sql.SQL(
            """
            INSERT INTO watoto_migration_history AS h (version, state, checksum,
                rollback_checksum, transactional, statements_done, applied_by, duration_ms)
            VALUES ({v}, {state}, {c}, {rc}, {t}, {done}, {by}, {ms})
            ON CONFLICT (version) DO UPDATE SET state = EXCLUDED.state,
                checksum = EXCLUDED.checksum, rollback_checksum = EXCLUDED.rollback_checksum,
                statements_done = EXCLUDED.statements_done, applied_by = EXCLUDED.applied_by,
                duration_ms = coalesce(EXCLUDED.duration_ms, h.duration_ms),
                applied_at = CASE WHEN EXCLUDED.state = 'applied' THEN now() ELSE h.applied_at END
            """).format(v=sql.Literal(m.version), state=sql.Literal(state),
                        c=sql.Literal(m.checksum), rc=sql.Literal(m.rollback_checksum),
                        t=sql.Literal(m.transactional), done=sql.Literal(done),
                        by=sql.Literal(self.applied_by), ms=duration)

    def _history(self, m: MigrationFile, state: str, done: int) -> None:
        from psycopg import sql

        self.conn.execute(self._history_sql(m, state, done, sql.Literal(None)))

    def _atomic(self, script: str, begin: str = "") -> None:
        """Run ``script`` as one transaction; on any error roll it back.

        One round trip, or two with ``begin`` (statements run right after ``BEGIN``).
        """
        from psycopg.pq import TransactionStatus

        try:
            if begin:
                self.conn.execute("BEGIN; " + begin)
                self.conn.execute(script + "COMMIT;")
            else:
                self.conn.execute("BEGIN;\n" + script + "COMMIT;")
        except BaseException:
            if not self.conn.closed and not self.conn.broken and \
                    self.conn.info.transaction_status != TransactionStatus.IDLE:
                self.conn.execute("ROLLBACK")
            raise

    # -- running -------------------------------------------------------------------------
    def run(self, m: MigrationFile, direction: str, resume_from: int = 0) -> None:
        """Apply or roll back ``m``, retrying when a lock is not granted in time."""
        attempt = 0
        while True:
            monitor = _BlockerMonitor(self.target, self.conn.info.backend_pid) \
                if attempt > 0 or self.options.retries == 0 else None
            try:
                if m.transactional:
                    self._run_transactional(m, direction)
                else:
                    self._run_autocommit(m, direction, resume_from)
                return
            except _LockTimeout as exc:
                if attempt >= self.options.retries:
                    blocker = monitor.describe() if monitor else "unknown"
                    raise MigrationBlocked(m.version, attempt + 1, exc.statement,
                                           blocker) from None
                delay = backoff_delay(self.options.backoff, attempt)
                self.on_event(f"{m.version}: lock not granted within "
                              f"{self.options.settings_for(m)['lock_timeout']}, "
                              f"retry {attempt + 1}/{self.options.retries} in {delay:g}s")
                time.sleep(delay)
                attempt += 1
                self.retries += 1
                if not m.transactional:
                    resume_from = self._statements_done(m)
            finally:
                if monitor:
                    monitor.stop()

    def _run_transactional(self, m: MigrationFile, direction: str) -> None:
        import psycopg

        settings = "; ".join(f"SET LOCAL {name} = {_literal(value)}"
                             for name, value in self.options.settings_for(m).items())
        # Two round trips: BEGIN with the settings, then the file's SQL as written (as psql
        # -f would send it; pg_stat_activity shows it from its first statement), its records
        # and COMMIT as one script. yoyo's split into statements is not needed to run it; a
        # failure anywhere in it, or in the records after it, rolls all of it back.
        try:
            self._atomic(m.sql(direction) + "\n;\n" + self._record_sql(m, direction, "server"),
                         begin=settings)
        except psycopg.Error as exc:
            if exc.sqlstate == LOCK_NOT_AVAILABLE:
                raise _LockTimeout(_failed_statement(exc)) from exc
            if self.conn.broken:
                raise ConnectionLost(m.version, direction, one_line(exc), True) from exc
            raise MigrationFailed(m.version, direction, one_line(exc)) from exc

    def _statements_done(self, m: MigrationFile) -> int:
        row = self.conn.execute(
            "SELECT statements_done FROM watoto_migration_history WHERE version = %s "
            "AND state = 'running'", (m.version,)).fetchone()
        return int(row[0]) if row else 0

    def _run_autocommit(self, m: MigrationFile, direction: str, resume_from: int) -> None:
        import psycopg

        from . import concurrent

        started = time.monotonic()
        statements = m.statements if direction == "apply" else m.rollback_statements
        for name, value in self.options.settings_for(m).items():
            self.conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        try:
            if direction == "apply":
                self._history(m, "running", resume_from)
            for index in range(resume_from, len(statements)):
                for statement in concurrent.expand(self.conn, statements[index]):
                    prepared = concurrent.prepare(self.conn, statement)
                    if prepared.skip:
                        self.on_event(f"{m.version}: skipped ({prepared.skip}): {statement}")
                        continue
                    if self.options.before_concurrent is not None:
                        self.options.before_concurrent(self.conn, m.version)
                    for cleanup in prepared.cleanup:
                        self.on_event(f"{m.version}: cleaning up: {cleanup}")
                        self._execute(cleanup)
                    self._execute(statement)
                if direction == "apply":
                    self.conn.execute(
                        "UPDATE watoto_migration_history SET statements_done = %s "
                        "WHERE version = %s", (index + 1, m.version))
            self._atomic(self._record_sql(m, direction,
                                          int((time.monotonic() - started) * 1000)))
        except psycopg.Error as exc:
            if exc.sqlstate == LOCK_NOT_AVAILABLE:
                raise _LockTimeout(_failed_statement(exc)) from exc
            if self.conn.broken:
                raise ConnectionLost(m.version, direction, one_line(exc), False) from exc
            raise MigrationFailed(
                m.version, direction,
                one_line(exc) + " (statements before it stay applied; `status` shows the "
                "migration as partial and the next migrate resumes it)",
                transactional=False) from exc
        finally:
            if not self.conn.closed and not self.conn.broken:
                self.conn.execute("RESET lock_timeout; RESET statement_timeout")

    def _execute(self, statement: str) -> None:
        self.conn.execute(statement)


class _LockTimeout(Exception):
    def __init__(self, statement: str) -> None:
        super().__init__(statement)
        self.statement = statement


def _failed_statement(exc: BaseException) -> str:
    query = getattr(getattr(exc, "diag", None), "context", None) or ""
    return one_line(str(query))[:120] or "?"


class _BlockerMonitor:
    """Watch, from a second session, which sessions block ours (pg_blocking_pids)."""

    def __init__(self, target: Target, pid: int) -> None:
        self.pid = pid
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._conn = connect(target, application_name="watoto-schema monitor")
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            try:
                rows = self._conn.execute(
                    """
                    SELECT a.pid, coalesce(nullif(a.application_name, ''), '?'), a.usename,
                           a.state, date_trunc('second', now() - a.xact_start)
                      FROM pg_stat_activity a
                     WHERE a.pid = ANY (pg_blocking_pids(%s))
                    """, (self.pid,)).fetchall()
            except Exception:
                return
            if rows:
                self.seen = [f"pid {p}, application {app}, user {user}, {state}, "
                             f"transaction open {age}" for p, app, user, state, age in rows]

    def describe(self) -> str:
        return "; ".join(self.seen) or "not seen (the blocker may have gone)"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._conn.close()


@contextmanager
def migration_lock(conn: psycopg.Connection[Any], wait: float) -> Iterator[None]:
    """Hold the database's migration lock (a session-level advisory lock) for the block.

    Polls ``pg_try_advisory_lock`` for up to ``wait`` seconds; the lock dies with the
    session, so a runner killed with ``kill -9`` leaves nothing behind. A connection through
    a pooler is refused first (``Refused``): the lock would not be the run's own.
    """
    from .target import require_direct

    require_direct(conn, "migrate")
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
        if not conn.closed and not conn.broken:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, LOCK_MIGRATE))


def _lock_holder(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(
        """
        SELECT a.pid, coalesce(nullif(a.application_name, ''), '?'), a.client_addr::text,
               date_trunc('second', now() - a.backend_start)
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


# -- planning ------------------------------------------------------------------------------

def _check_history(files: Sequence[MigrationFile | sources.FileSummary],
                   applied: dict[str, AppliedState]) -> None:
    """Refuse to run when an applied migration was edited or its file is gone."""
    by_version = {f.version: f for f in files}
    for version, record in applied.items():
        f = by_version.get(version)
        if f is None:
            raise MigrationMissing(version)
        if record.state == "applied" and record.checksum and record.checksum != f.checksum:
            raise MigrationEdited(version, str(f.path), record.checksum, f.checksum)


def _to_apply(files: Sequence[MigrationFile], applied: dict[str, AppliedState],
              to: str | None) -> list[MigrationFile]:
    wanted = None if to is None else sources.ancestors(files, sources.find(files, to))
    return [f for f in files
            if (f.version not in applied or applied[f.version].state == "running")
            and (wanted is None or f.version in wanted)]


def _to_rollback(files: Sequence[MigrationFile], applied: dict[str, AppliedState],
                 to: str | None, steps: int | None) -> list[MigrationFile]:
    keep = set() if to is None else sources.ancestors(files, sources.find(files, to))
    todo = [f for f in reversed(files) if f.version in applied and f.version not in keep]
    return todo if steps is None else todo[:steps]


def _script(target: Target, files: Sequence[MigrationFile], direction: str,
            options: RunOptions, conn: psycopg.Connection[Any],
            applied: dict[str, AppliedState]) -> str:
    """The exact SQL a run would execute, with transaction boundaries and settings."""
    from . import concurrent

    out = [f"-- watoto-schema {'migrate' if direction == 'apply' else 'rollback'} --dry-run",
           f"-- target: {target.display}", "-- the run holds a session-level advisory lock "
           f"pg_advisory_lock({LOCK_CLASS}, {LOCK_MIGRATE}) throughout", ""]
    for m in files:
        settings = options.settings_for(m)
        statements = m.statements if direction == "apply" else m.rollback_statements
        ledger = ("INSERT INTO schema_migrations (version) VALUES ({v});" if direction == "apply"
                  else "DELETE FROM schema_migrations WHERE version = {v};")
        ledger = ledger.format(v=_literal(m.version))
        out.append(f"-- {m.version} ({'transactional' if m.transactional else 'non-transactional'}"
                   f", {direction})")
        if m.transactional:
            out.append("BEGIN;")
            out.extend(f"SET LOCAL {k} = {_literal(v)};" for k, v in settings.items())
            out.extend(s.rstrip(";") + ";" for s in statements)
            out.append(ledger)
            out.append("-- + yoyo's _yoyo_migration/_yoyo_log rows and watoto_migration_history")
            out.append("COMMIT;")
        else:
            out.extend(f"SET {k} = {_literal(v)};" for k, v in settings.items())
            start = applied[m.version].statements_done if (
                direction == "apply" and m.version in applied) else 0
            if start:
                out.append(f"-- resuming after statement {start}")
            for statement in statements[start:]:
                for expanded in concurrent.expand(conn, statement):
                    prepared = concurrent.prepare(conn, expanded)
                    if prepared.skip:
                        out.append(f"-- skipped ({prepared.skip}): {expanded};")
                        continue
                    out.extend(c + ";" for c in prepared.cleanup)
                    out.append(expanded.rstrip(";") + ";")
            out.append("BEGIN;")
            out.append(ledger)
            out.append("-- + yoyo's _yoyo_migration/_yoyo_log rows and watoto_migration_history")
            out.append("COMMIT;")
            out.extend(f"RESET {k};" for k in settings)
        out.append("")
    if not files:
        out.append("-- nothing to do")
    return "\n".join(out) + "\n"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# -- the operations ----------------------------------------------------------------------

def migrate(target: Target, *, to: str | None = None, extra_dirs: Sequence[Path] = (),
            options: RunOptions | None = None, dry_run: bool = False,
            on_event: Callable[[str], None] | None = None) -> RunResult:
    """Apply pending migrations (up to and including ``to``), each on its own.

    Idempotent: a second run finds nothing to do. Concurrent runs serialise on the
    migration lock and apply each migration exactly once. Refuses (exit 3) when an
    applied migration's file was edited or is gone. ``dry_run`` reads only and returns
    the script in ``RunResult.sql``.
    """
    return _operate("apply", target, extra_dirs, options or RunOptions(), dry_run, on_event,
                    lambda files, applied: _to_apply(files, applied, to),
                    quick=to is None)


def _up_to_date(conn: psycopg.Connection[Any], extra_dirs: Sequence[Path]) -> bool:
    """The common case, nothing pending, found without parsing SQL or taking the lock.

    False when something may be pending (the full, locked run decides). Still refuses an
    edited or missing applied migration.
    """
    dirs = sources.migration_dirs(extra_dirs)
    applied = read_applied(conn)
    # Names first: with something pending the files are not read twice (the run reads them).
    if any(p.stem not in applied or applied[p.stem].state == "running"
           for p in sources.paths(dirs)):
        return False
    _check_history(sources.scan(dirs), applied)
    return True


def apply_versions(target: Target, versions: Sequence[str],
                   extra_dirs: Sequence[Path] = ()) -> RunResult:
    """Apply exactly ``versions`` (and nothing else) to a database, in dependency order.

    Used to build the expected schema of a database that has applied those versions.
    """
    wanted = set(versions)
    return _operate("apply", target, extra_dirs, RunOptions(), False, None,
                    lambda files, applied: [f for f in files
                                            if f.version in wanted and f.version not in applied])


def rollback(target: Target, *, to: str | None = None, steps: int | None = None,
             everything: bool = False, extra_dirs: Sequence[Path] = (),
             options: RunOptions | None = None, dry_run: bool = False,
             on_event: Callable[[str], None] | None = None) -> RunResult:
    """Roll back applied migrations, newest first, each on its own.

    Exactly one of ``to`` (keep that version and what it depends on), ``steps`` (the last
    N applied) or ``everything`` selects what goes.
    """
    if sum((to is not None, steps is not None, everything)) != 1:
        raise BadConfig("rollback needs exactly one of --to VERSION, --steps N, --all")
    return _operate("rollback", target, extra_dirs, options or RunOptions(), dry_run, on_event,
                    lambda files, applied: _to_rollback(files, applied, to, steps))


def _operate(direction: str, target: Target, extra_dirs: Sequence[Path], options: RunOptions,
             dry_run: bool, on_event: Callable[[str], None] | None,
             select: Callable[[list[MigrationFile], dict[str, AppliedState]],
                              list[MigrationFile]], quick: bool = False) -> RunResult:
    started = time.monotonic()
    result = RunResult(direction, target.display)
    runner = _Runner(target, options, on_event) if quick and not dry_run else None
    try:
        if runner is not None and _up_to_date(runner.conn, extra_dirs):
            result.seconds = time.monotonic() - started
            return result
        files = sources.read(sources.migration_dirs(extra_dirs))
        if dry_run:
            with connect(target) as conn:
                applied = read_applied(conn)
                _check_history(files, applied)
                todo = select(files, applied)
                if options.before_apply is not None:
                    options.before_apply(files, todo)
                result.sql = _script(target, todo, direction, options, conn, applied)
            result.done = [m.version for m in todo]
            result.seconds = time.monotonic() - started
            return result
        runner = runner or _Runner(target, options, on_event)
        with migration_lock(runner.conn, options.lock_wait):
            if options.before_apply is not None:  # before bootstrap: a refusal creates nothing
                applied = read_applied(runner.conn)
                _check_history(files, applied)
                options.before_apply(files, select(files, applied))
            runner.bootstrap()
            applied = read_applied(runner.conn)
            _check_history(files, applied)
            for m in select(files, applied):
                resume = applied[m.version].statements_done if (
                    direction == "apply" and m.version in applied) else 0
                runner.run(m, direction, resume)
                result.done.append(m.version)
                if options.after_each is not None:
                    options.after_each(runner.conn, m.version)
    finally:
        if runner is not None:
            runner.close()
    result.retries = runner.retries
    result.seconds = time.monotonic() - started
    return result


def repair(target: Target, *, extra_dirs: Sequence[Path] = (),
           options: RunOptions | None = None) -> RunResult:
    """Re-record the checksums of applied migrations whose files changed (after review).

    Also records checksums for migrations applied before checksums were kept. Does not
    touch partial migrations (``migrate`` resumes them) or missing files.
    """
    options = options or RunOptions()
    started = time.monotonic()
    files = sources.read(sources.migration_dirs(extra_dirs))
    result = RunResult("repair", target.display)
    runner = _Runner(target, options, None)
    try:
        with migration_lock(runner.conn, options.lock_wait):
            runner.bootstrap()
            applied = read_applied(runner.conn)
            with runner.conn.transaction():
                for f in files:
                    record = applied.get(f.version)
                    if record is None or record.state != "applied":
                        continue
                    if (record.checksum, record.rollback_checksum) != (f.checksum,
                                                                       f.rollback_checksum):
                        runner._history(f, "applied", f.statement_count)
                        result.done.append(f.version)
    finally:
        runner.close()
    result.seconds = time.monotonic() - started
    return result


def baseline(target: Target, *, to: str | None = None, extra_dirs: Sequence[Path] = (),
             options: RunOptions | None = None) -> RunResult:
    """Adopt a database built by hand: record migrations as applied without running them.

    Only on a database this tool has not migrated yet, and only after checking that every
    object the migrations create (tables, indexes, views, functions, triggers, constraints,
    sequences) is present; otherwise refuses (exit 3) naming what is missing.
    """
    from . import objects

    options = options or RunOptions()
    started = time.monotonic()
    files = sources.read(sources.migration_dirs(extra_dirs))
    chosen = _to_apply(files, {}, to)
    result = RunResult("baseline", target.display)
    runner = _Runner(target, options, None)
    try:
        with migration_lock(runner.conn, options.lock_wait):
            if read_applied(runner.conn):
                raise Refused("this database already has applied migrations: baseline is only "
                              "for a database no migration tool has run on (see `status`)")
            missing = objects.missing(runner.conn, [s for f in chosen for s in f.statements])
            if missing:
                more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
                raise Refused("not baselined, objects the migrations create are missing: "
                              + ", ".join(missing[:5]) + more)
            runner.bootstrap()
            with runner.conn.transaction():
                for f in chosen:
                    runner.conn.execute(runner._record_sql(f, "apply", None))
                    result.done.append(f.version)
    finally:
        runner.close()
    result.seconds = time.monotonic() - started
    return result


def new(name: str, folder: Path, extra_dirs: Sequence[Path] = (), *,
        transactional: bool = True) -> list[Path]:
    """Write the next numbered migration and its rollback into ``folder`` from templates."""
    import re

    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from .resources import data_dir

    if not re.fullmatch(r"[a-z][a-z0-9_]{0,60}", name):
        raise BadConfig(f"migration name {name!r}: use lower-case letters, digits and _")
    dirs = sources.migration_dirs(extra_dirs)
    if folder.resolve() not in [d.resolve() for d in dirs]:
        dirs.append(folder)
    files = sources.read(dirs) if folder.is_dir() else sources.read(dirs[:-1])
    numbers = [int(f.version.split("_", 1)[0]) for f in files
               if f.version.split("_", 1)[0].isdigit()]
    version = f"{max(numbers, default=0) + 1:04d}_{name}"
    depended = {d for f in files for d in f.depends}
    heads = [f.version for f in files if f.version not in depended]
    env = Environment(loader=FileSystemLoader(data_dir("sql") / "templates"),
                      undefined=StrictUndefined, keep_trailing_newline=True)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for template, suffix in (("migration.sql.j2", ".sql"), ("rollback.sql.j2", ".rollback.sql")):
        path = folder / f"{version}{suffix}"
        if path.exists():
            raise Refused(f"{path} already exists")
        path.write_text(env.get_template(template).render(
            version=version, depends=heads, transactional=transactional))
        written.append(path)
    return written
