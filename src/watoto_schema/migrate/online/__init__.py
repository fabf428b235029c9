"""Online (expand/contract) migrations: ``-- online: true`` run without blocking the tables.

Three phases, each a list of steps recorded in ``watoto_online_migration`` as it goes, so
a run killed at any step (``kill -9`` in the backfill, in the contract) is carried on by
the next ``migrate``, ``migrate --complete`` or ``rollback``:

* **expand** (``migrate``): shadow columns, the sync trigger, the old version's views,
  indexes built CONCURRENTLY, the backfill, constraints validated, the new version's views.
  The migration is then *active*: both versions are served; later migrations wait.
* **contract** (``migrate --complete``): the old version's schema goes, shadow columns are
  swapped into place and constraints made final, one short transaction per table under
  ``lock_timeout`` with retries; the migration is recorded as applied.
* **abort** (``rollback`` of an active migration): the new version's schema, shadow
  columns, triggers, pending constraints and new indexes go; the old shape stays, with every
  write made through either version.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg import sql

from ...errors import MigrationBlocked, MigrationFailed
from ...resources import sql_text
from ...retry import LOCK_NOT_AVAILABLE, backoff_delay
from ...target import one_line
from ..model import ONLINE_STATE
from . import backfill
from .plan import Step, check_supported, plan, version_schema

if TYPE_CHECKING:
    import psycopg

    from ...sources import MigrationFile
    from ..model import RunOptions
    from ..runner import _Runner

STATE = ONLINE_STATE
PROGRESS = "watoto_online_backfill"

__all__ = ["BackfillProgress", "OnlineState", "abort", "active", "check_supported", "complete",
           "expand", "plan", "version_schema"]


@dataclass
class BackfillProgress:
    relation: str
    rows_done: int
    rows_total: int
    done: bool
    started_at: datetime
    updated_at: datetime


@dataclass
class OnlineState:
    """An online migration in progress, as the database records it."""

    version: str
    phase: str  # expanding | active | completing | aborting
    step: int
    plan: dict[str, Any]
    checksum: str
    started_by: str
    started_at: datetime
    backfill: list[BackfillProgress] = field(default_factory=list)

    @property
    def steps(self) -> list[dict[str, str]]:
        key = {"expanding": "expand", "completing": "contract", "aborting": "abort"}
        return self.plan[key[self.phase]] if self.phase in key else []

    @property
    def rows_done(self) -> int:
        return sum(b.rows_done for b in self.backfill)

    @property
    def rows_total(self) -> int:
        """Rows counted in the relations whose backfill started, estimates for the others."""
        started = {b.relation for b in self.backfill}
        counted = sum(max(b.rows_total, b.rows_done) for b in self.backfill)
        return counted + int(sum(spec.get("rows_estimate", 0)
                                 for spec in self.plan["backfills"]
                                 if not started & set(spec["leaves"])))

    @property
    def rate(self) -> float | None:
        if not self.backfill:
            return None
        start = min(b.started_at for b in self.backfill)
        end = max(b.updated_at for b in self.backfill)
        seconds = (end - start).total_seconds()
        return self.rows_done / seconds if seconds > 0 and self.rows_done else None

    @property
    def eta_seconds(self) -> float | None:
        rate = self.rate
        if rate is None or self.phase != "expanding":
            return None
        return max(0.0, (self.rows_total - self.rows_done) / rate)

    def versions(self) -> list[dict[str, str]]:
        """The versions served now and the search_path each application version uses."""
        old, new = self.plan["old_schema"], self.plan["new_schema"]
        served = []
        if self.phase != "completing":  # the contract drops the old version's schema first
            served.append({"version": "old", "schema": old, "search_path": f"{old}, public"})
        if self.phase in ("active", "completing"):
            served.append({"version": "new", "schema": new, "search_path": f"{new}, public"})
        return served


def ensure_tables(conn: psycopg.Connection[Any]) -> None:
    conn.execute(sql_text("online/state.sql"))


def active(conn: psycopg.Connection[Any]) -> OnlineState | None:
    """The online migration in progress on this database, if any. Read-only."""
    row = conn.execute("SELECT to_regclass(%s), to_regclass(%s)", (STATE, PROGRESS)).fetchone()
    if row is None or row[0] is None:
        return None
    found = conn.execute(f"SELECT version, phase, step, plan, checksum, started_by, started_at "
                         f"FROM {STATE} ORDER BY started_at LIMIT 1").fetchone()
    if found is None:
        return None
    state = OnlineState(*found)
    if row[1] is not None:
        state.backfill = [BackfillProgress(*r) for r in conn.execute(
            f"SELECT relation, rows_done, rows_total, done, started_at, updated_at "
            f"FROM {PROGRESS} WHERE version = %s ORDER BY relation", (state.version,))]
    return state


def _set_phase(conn: psycopg.Connection[Any], version: str, phase: str) -> None:
    conn.execute(f"UPDATE {STATE} SET phase = %s, step = 0, phase_at = now() "
                 "WHERE version = %s", (phase, version))


def expand(runner: _Runner, m: MigrationFile, options: RunOptions, old_version: str,
           on_event: Callable[[str], None]) -> OnlineState:
    """Start (or carry on) the expand phase of ``m``; returns it active."""
    conn = runner.conn
    state = active(conn)
    if state is None:
        planned = plan(conn, m, old_version)
        for line in planned.operations:
            on_event(f"{m.version}: {line}")
        conn.execute(f"INSERT INTO {STATE} (version, phase, plan, checksum, started_by) "
                     "VALUES (%s, 'expanding', %s, %s, %s)",
                     (m.version, json.dumps(planned.as_dict()), m.checksum, runner.applied_by))
        state = active(conn)
        assert state is not None
    else:
        on_event(f"{m.version}: carrying on with the expand phase at step {state.step + 1} of "
                 f"{len(state.steps)}")
    _run_steps(runner, state, options, on_event)
    _set_phase(conn, state.version, "active")
    on_event(f"{m.version}: active: the old version is served by search_path "
             f"{state.plan['old_schema']}, public and the new one by "
             f"{state.plan['new_schema']}, public; `migrate --complete` retires the old one")
    return active(conn) or state


def complete(runner: _Runner, m: MigrationFile, state: OnlineState, options: RunOptions,
             on_event: Callable[[str], None]) -> None:
    """Run (or carry on) the contract phase; records ``m`` as applied."""
    conn = runner.conn
    if state.phase == "active":
        _set_phase(conn, state.version, "completing")
        state.phase, state.step = "completing", 0
    _run_steps(runner, state, options, on_event)
    started = state.started_at
    ms = int((time.time() - started.timestamp()) * 1000)
    forget = "".join(_sql("DELETE FROM {} WHERE version = {};\n", conn, sql.Identifier(table),
                          sql.Literal(m.version)) for table in (PROGRESS, STATE))
    runner._atomic(runner._record_sql(m, "apply", ms) + forget)


def abort(runner: _Runner, state: OnlineState, options: RunOptions,
          on_event: Callable[[str], None]) -> None:
    """Undo an online migration that has not been completed (expanding, active, aborting)."""
    conn = runner.conn
    if state.phase == "completing":
        from ...errors import Refused

        raise Refused(f"{state.version} is being completed (its old shape is partly gone): it "
                      "cannot be aborted; run `migrate --complete` to finish it")
    if state.phase != "aborting":
        _set_phase(conn, state.version, "aborting")
        state.phase, state.step = "aborting", 0
    _run_steps(runner, state, options, on_event)
    with conn.transaction():
        conn.execute(f"DELETE FROM {PROGRESS} WHERE version = %s", (state.version,))
        conn.execute(f"DELETE FROM {STATE} WHERE version = %s", (state.version,))


def _sql(template: str, conn: psycopg.Connection[Any], *parts: sql.Composable) -> str:
    """``template`` with identifiers and literals quoted by psycopg, as script text."""
    return sql.SQL(template).format(*parts).as_string(conn)


def _run_steps(runner: _Runner, state: OnlineState, options: RunOptions,
               on_event: Callable[[str], None]) -> None:
    steps = [Step(**s) for s in state.steps]
    for index in range(state.step, len(steps)):
        step = steps[index]
        phase = {"expanding": "expand", "completing": "contract", "aborting": "abort"}
        on_event(f"{state.version}: {phase[state.phase]} step {index + 1}/{len(steps)}: "
                 f"{step.what}")
        if step.kind == "backfill":
            spec = state.plan["backfills"][int(step.sql)]
            _backfill(runner, state, spec, options, on_event)
            _advance(runner.conn, state, index + 1)
        elif step.kind == "concurrent":
            _concurrent(runner, state, step, options)
            _advance(runner.conn, state, index + 1)
        else:
            _transaction(runner, state, step, index + 1, options)
        state.step = index + 1


def _advance(conn: psycopg.Connection[Any], state: OnlineState, step: int) -> None:
    conn.execute(f"UPDATE {STATE} SET step = %s, phase_at = now() WHERE version = %s",
                 (step, state.version))


def _transaction(runner: _Runner, state: OnlineState, step: Step, next_step: int,
                 options: RunOptions) -> None:
    """One step in one transaction with its progress: short lock waits, retried."""
    import psycopg

    timeout = "0" if step.kind == "validate" else options.statement_timeout
    record = sql.SQL("UPDATE {} SET step = {}, phase_at = now() WHERE version = {}").format(
        sql.Identifier(STATE), sql.Literal(next_step), sql.Literal(state.version)
    ).as_string(runner.conn)
    settings = _sql("SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {}",
                    runner.conn, sql.Literal(options.online_lock_timeout), sql.Literal(timeout))
    if _superuser(runner):
        # Waiting for a lock held by autovacuum past deadlock_timeout cancels the autovacuum
        # (PostgreSQL's rule); the default 1 s is longer than our lock_timeout, so it would
        # never give way, and on a partitioned table the locks already taken (the parent,
        # the first partitions) would be held for every wait on the next partition.
        settings += _sql("; SET LOCAL deadlock_timeout = {}", runner.conn,
                         sql.Literal(options.online_deadlock_timeout))
    _retrying(runner, state, step, options, lambda: runner._atomic(
        step.sql + ";\n" + record + ";\n", begin=settings), psycopg)


def _superuser(runner: _Runner) -> bool:
    cached = getattr(runner, "_online_superuser", None)
    if cached is None:
        row = runner.conn.execute("SELECT rolsuper FROM pg_roles "
                                  "WHERE rolname = current_user").fetchone()
        cached = bool(row and row[0])
        runner._online_superuser = cached  # type: ignore[attr-defined]
    return bool(cached)


def _retrying(runner: _Runner, state: OnlineState, step: Step, options: RunOptions,
              work: Callable[[], None], psycopg: Any) -> None:
    """Run ``work``; when its locks are not granted in time, again, with backoff. From the
    first retry on a second session watches who blocks it, to name them if it gives up."""
    from ..runner import _BlockerMonitor

    attempt = 0
    monitor: _BlockerMonitor | None = None
    try:
        while True:
            if attempt == 1:
                monitor = _BlockerMonitor(runner.target, runner.conn.info.backend_pid)
            if _attempt(runner, state, step, options, work, psycopg, attempt, monitor):
                return
            attempt += 1
    finally:
        if monitor is not None:
            monitor.stop()


def _attempt(runner: _Runner, state: OnlineState, step: Step, options: RunOptions,
             work: Callable[[], None], psycopg: Any, attempt: int,
             monitor: Any) -> bool:
    """One try of ``work``: True when done, False to try again after the pause."""
    from ...errors import ConnectionLost

    try:
        work()
        return True
    except psycopg.Error as exc:
        if runner.conn.broken:
            raise ConnectionLost(state.version, "apply", one_line(exc), False) from exc
        if exc.sqlstate != LOCK_NOT_AVAILABLE:
            raise MigrationFailed(state.version, "apply",
                                  f"{state.phase} step '{step.what}': {one_line(exc)}",
                                  transactional=False) from exc
        if attempt >= options.online_retries:
            blocker = monitor.describe() if monitor is not None else "not seen"
            raise MigrationBlocked(state.version, attempt + 1, step.what, blocker) from None
        delay = min(backoff_delay(options.online_backoff, attempt), 2.0)
        runner.on_event(f"{state.version}: '{step.what}': lock not granted within "
                        f"{options.online_lock_timeout}, retry {attempt + 1}/"
                        f"{options.online_retries} in {delay:g}s")
        time.sleep(delay)
        runner.retries += 1
        return False


def _concurrent(runner: _Runner, state: OnlineState, step: Step, options: RunOptions) -> None:
    """A CONCURRENTLY statement (per partition on a partitioned table), resume-safe."""
    import psycopg

    from ... import concurrent

    conn = runner.conn
    # A concurrent build or drop takes SHARE UPDATE EXCLUSIVE, which blocks no read or write
    # of the application; it then waits for older transactions to end. Waiting costs the
    # application nothing, so it has no lock_timeout (a long report would make it fail).
    conn.execute("SELECT set_config('lock_timeout', '0', false), "
                 "set_config('statement_timeout', '0', false)")
    try:
        for statement in concurrent.expand(conn, step.sql):
            if options.before_concurrent is not None:
                options.before_concurrent(conn, state.version)

            def run(statement: str = statement) -> None:
                prepared = concurrent.prepare(conn, statement)  # again on a retry
                if prepared.skip:
                    return
                for cleanup in prepared.cleanup:
                    conn.execute(cleanup)
                conn.execute(prepared.statement)

            _retrying(runner, state, step, options, run, psycopg)
    finally:
        if not conn.broken:
            conn.execute("RESET lock_timeout; RESET statement_timeout")


def _backfill(runner: _Runner, state: OnlineState, spec: dict[str, Any], options: RunOptions,
              on_event: Callable[[str], None]) -> None:
    conn = runner.conn
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (options.online_lock_timeout,))
    before = options.before_concurrent
    last_note = [time.monotonic()]

    def progress(leaf: str, count: int) -> None:
        if time.monotonic() - last_note[0] >= 5:
            last_note[0] = time.monotonic()
            now = active(conn)
            if now is not None:
                on_event(f"{state.version}: backfill {now.rows_done:,}/{now.rows_total:,} rows")

    try:
        backfill.run(conn, state.version, spec, backfill.Pace(
            rows=options.batch_rows, pause=options.batch_pause,
            skip_triggers=_superuser(runner), before_batch=before, on_progress=progress))
    finally:
        if not conn.broken:
            conn.execute("RESET lock_timeout")
