"""One run on one connection: yoyo's tables, recording, retries and the migration lock."""

from __future__ import annotations

import getpass
import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import (
    BadConfig,
    ConnectionLost,
    LockNotAcquired,
    MigrationBlocked,
    MigrationFailed,
)
from ..resources import sql_text
from ..retry import LOCK_NOT_AVAILABLE, backoff_delay
from ..sources import MigrationFile
from ..target import Target, connect, one_line
from .model import (
    HISTORY,
    LEDGER,
    LOCK_CLASS,
    LOCK_MIGRATE,
    YOYO_TABLE,
    RunOptions,
    _literal,
)

if TYPE_CHECKING:
    import psycopg

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

        from .. import concurrent

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
    from ..target import require_direct

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

