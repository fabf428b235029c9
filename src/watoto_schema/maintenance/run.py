"""``run()``: execute tasks in autocommit under lock_timeout with retries, on up to
``jobs`` connections, never two on one table, under the maintenance advisory lock."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import (
    BadConfig,
    MaintenanceLockHeld,
    Refused,
    WatotoError,
)
from ..migrate import LOCK_CLASS
from ..resources import sql_text
from ..retry import backoff_delay
from ..target import Target, connect, dict_rows, one_line
from .catalog import _ident, _statement
from .model import (
    _LEFTOVER,
    _RETRYABLE,
    APPLICATION,
    DEADLOCK_DETECTED,
    LOCK_MAINTAIN,
    MAX_JOBS,
    MaintenancePlan,
    Operation,
    Pacing,
    ProgressEvent,
    RunOptions,
    RunSummary,
    Task,
)
from .plan import _migration_running, render_script

if TYPE_CHECKING:
    import psycopg

# -- running -------------------------------------------------------------------------------

def _lock_holder(conn: psycopg.Connection[Any]) -> str:
    rows = conn.execute(sql_text("maintenance/lock_holder.sql"),
                        {"classid": LOCK_CLASS, "objid": LOCK_MAINTAIN}).fetchall()
    if not rows:
        return "holder already gone"
    pid, app, addr, age = rows[0]
    return f"pid {pid}, application {app}, from {addr or 'local socket'}, connected {age}"


@contextmanager
def maintenance_lock(conn: psycopg.Connection[Any], wait: float | None,
                     on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the maintenance lock, a session-level advisory lock, for the block.

    ``wait`` 0 refuses at once when another run holds it (``MaintenanceLockHeld``, exit 3),
    a number polls that many seconds, None waits as long as it takes. The lock dies with
    the session: a run killed with ``kill -9`` leaves nothing to unlock. A connection
    through a pooler is refused first (``Refused``): the lock would not be the run's own.
    """
    from ..target import require_direct

    require_direct(conn, "maintain")
    started = time.monotonic()
    told = False
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                           (LOCK_CLASS, LOCK_MAINTAIN)).fetchone()
        if row and row[0]:
            break
        waited = time.monotonic() - started
        if wait is not None and waited >= wait:
            raise MaintenanceLockHeld(wait, _lock_holder(conn))
        if not told and on_wait is not None:
            on_wait(_lock_holder(conn))
            told = True
        time.sleep(0.2)
    try:
        yield
    finally:
        if not conn.closed and not conn.broken:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, LOCK_MAINTAIN))


def run(target: Target, plan_or_tasks: MaintenancePlan | Sequence[Task],
        options: RunOptions | None = None,
        on_progress: Callable[[ProgressEvent], None] | None = None) -> RunSummary:
    """Execute a plan's tasks (or any tasks), or with ``dry_run`` only render them.

    Holds the maintenance lock for the whole run (``options.lock_wait``). Every statement
    runs in autocommit under ``lock_timeout`` / ``statement_timeout``; a lock not granted
    in time (or a deadlock) is retried with backoff, and a failed REINDEX CONCURRENTLY's
    ``_ccnew`` copy is dropped before the retry. Up to ``options.jobs`` connections work in
    parallel, capped by the free connection slots and ``MAX_JOBS``; two tasks that lock the
    same table never run at the same time. Refuses ``VACUUM FULL`` tasks unless
    ``allow_vacuum_full``. Operation failures are reported in the summary, not raised.
    """
    options = options or RunOptions()
    tasks = list(plan_or_tasks.tasks if isinstance(plan_or_tasks, MaintenancePlan)
                 else plan_or_tasks)
    started = time.monotonic()
    if options.jobs < 1:
        raise BadConfig("--jobs must be at least 1")
    _check_pacing(options)
    if options.dry_run:
        return RunSummary(target.display, True, options.jobs,
                          [Operation(t, "planned") for t in tasks],
                          seconds=time.monotonic() - started,
                          script=render_script(tasks, options, target.display))
    full = [t.title for t in tasks if t.action == "vacuum_full"]
    if full and not options.allow_vacuum_full:
        raise Refused(f"VACUUM FULL takes an ACCESS EXCLUSIVE lock on each table for the "
                      f"whole rewrite, stopping every read and write of it ({full[0]}"
                      f"{' and more' if len(full) > 1 else ''}); nothing was run: pass "
                      "--full --yes to run it anyway")
    emit = _Emitter(on_progress)
    main = connect(target, application_name=APPLICATION)
    try:
        _set_timeouts(main, options)
        with maintenance_lock(main, options.lock_wait,
                              lambda holder: emit(ProgressEvent(
                                  "waiting", -1, None,
                                  message=f"waiting for another maintenance run ({holder})"))):
            jobs, notes = _jobs(main, options.jobs, len(tasks))
            guard = None
            if _guarded(options) and tasks:
                try:
                    guard = _LatencyGuard(target, options, emit)
                except WatotoError as exc:  # no slot for the probe: run, unguarded, and say so
                    notes.append(f"latency guard off: its probe could not connect ({exc})")
            try:
                runner = _Runner(target, main, tasks, options, emit, guard)
                operations, opened = runner.run(jobs)
            finally:
                if guard is not None:
                    guard.close()
            if opened < jobs:
                notes.append(f"only {opened} of {jobs} worker connection(s) could be opened")
            if guard is not None and guard.account.budget_spent:
                notes.append(f"the latency guard's pauses reached --max-pause "
                             f"({options.max_pause:g}s): the rest ran without pausing")
    finally:
        main.close()
    if runner.refusal is not None:
        done = sum(op.status == "done" for op in operations)
        raise type(runner.refusal)(f"{runner.refusal} ({done} of {len(operations)} "
                                   "operation(s) had run)")
    return RunSummary(target.display, False, jobs, operations, notes,
                      time.monotonic() - started,
                      pacing=guard.account if guard is not None else None)


def _guarded(options: RunOptions) -> bool:
    return options.pause_above_ms is not None or options.pause_above_factor is not None


def _check_pacing(options: RunOptions) -> None:
    if options.pause_above_ms is not None and options.pause_above_ms < 0:
        raise BadConfig(f"--pause-above must be at least 0 ms (got {options.pause_above_ms:g})")
    if options.pause_above_factor is not None and options.pause_above_factor <= 0:
        raise BadConfig(f"--pause-above: the factor must be above 0 (got "
                        f"{options.pause_above_factor:g}x)")
    if options.max_pause < 0:
        raise BadConfig(f"--max-pause must be at least 0 s (got {options.max_pause:g})")


def _set_timeouts(conn: psycopg.Connection[Any], options: RunOptions) -> None:
    """Session settings of a maintenance connection: timeouts, throttling, one CPU each."""
    import psycopg

    try:
        conn.execute("SELECT set_config('lock_timeout', %s, false), "
                     "set_config('statement_timeout', %s, false), "
                     "set_config('vacuum_cost_delay', %s, false)",
                     (options.lock_timeout, options.statement_timeout, options.cost_delay))
    except psycopg.Error as exc:
        raise BadConfig(f"lock timeout, statement timeout or cost delay: {one_line(exc)}"
                        ) from exc
    # Each job is one backend on one CPU: index builds start no parallel workers, so that
    # --jobs bounds the CPUs maintenance takes from the application.
    conn.execute("SET max_parallel_maintenance_workers = 0")
    # A killed client's statement is cancelled within a second, even mid-VACUUM.
    conn.execute("SET client_connection_check_interval = 1000")


def _jobs(conn: psycopg.Connection[Any], requested: int, tasks: int) -> tuple[int, list[str]]:
    """Workers to start: as asked, but within the free connection slots (with slack)."""
    row = conn.execute(sql_text("maintenance/connection_slots.sql")).fetchone()
    assert row is not None
    max_connections, reserved, in_use = (int(v) for v in row)
    slack = max(3, max_connections // 10)  # leave room for the application to connect
    # Worker 0 is the connection that holds the lock; one more watches progress.
    free = max_connections - reserved - in_use - slack - 1
    allowed = max(1, min(requested, MAX_JOBS, 1 + max(free, 0)))
    notes = []
    if allowed < requested:
        why = (f"at most {MAX_JOBS} workers" if requested > MAX_JOBS and allowed == MAX_JOBS
               else f"{max_connections - reserved - in_use} connection slot(s) free of "
               f"{max_connections}, keeping {slack} for the application")
        notes.append(f"--jobs {requested} reduced to {allowed}: {why}")
    return max(1, min(allowed, tasks)), notes


class _Emitter:
    """Call the progress callback from any thread, one call at a time."""

    def __init__(self, callback: Callable[[ProgressEvent], None] | None) -> None:
        self.callback = callback
        self.lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        if self.callback is not None:
            with self.lock:
                self.callback(event)


class _Runner:
    """Workers pulling tasks whose tables no running task holds, plus a progress watcher."""

    def __init__(self, target: Target, main: psycopg.Connection[Any], tasks: list[Task],
                 options: RunOptions, emit: _Emitter,
                 guard: _LatencyGuard | None = None) -> None:
        self.target = target
        self.guard = guard
        self.main = main
        self.tasks = tasks
        self.options = options
        self.emit = emit
        self.pending = list(range(len(tasks)))
        self.running: dict[int, frozenset[int]] = {}
        self.cond = threading.Condition()
        self.stop = threading.Event()
        self.results: list[Operation | None] = [None] * len(tasks)
        self.busy: dict[int, int] = {}  # backend pid -> task index (for progress)
        self.refusal: WatotoError | None = None  # what stopped the run (before_heavy)

    def run(self, jobs: int) -> tuple[list[Operation], int]:
        conns = [self.main]
        try:
            for _ in range(jobs - 1):
                try:
                    extra = connect(self.target, application_name=APPLICATION)
                    _set_timeouts(extra, self.options)
                except WatotoError:
                    break
                conns.append(extra)
            threads = [threading.Thread(target=self._worker, args=(c,), daemon=True)
                       for c in conns]
            watcher = _Watcher(self.target, self) if self.emit.callback and self.tasks else None
            for thread in threads:
                thread.start()
            try:
                while any(t.is_alive() for t in threads):
                    for thread in threads:
                        thread.join(0.2)
            except BaseException:
                self.stop.set()
                with self.cond:
                    self.cond.notify_all()
                for conn in conns:
                    conn.cancel_safe()
                for thread in threads:
                    thread.join(10)
                raise
            finally:
                if watcher:
                    watcher.close()
        finally:
            for conn in conns[1:]:
                conn.close()
        operations = [op if op is not None else Operation(task, "not run",
                                                          error="no worker left to run it")
                      for op, task in zip(self.results, self.tasks, strict=True)]
        return operations, len(conns)

    def _next(self) -> int | None:
        with self.cond:
            while True:
                if self.stop.is_set() or not self.pending:
                    return None
                held = frozenset().union(*self.running.values())
                for position, index in enumerate(self.pending):
                    locks = self.tasks[index].lock_set
                    if not locks & held:
                        del self.pending[position]
                        self.running[index] = locks
                        return index
                self.cond.wait()

    def _finish(self, index: int) -> None:
        with self.cond:
            del self.running[index]
            self.cond.notify_all()

    def _worker(self, conn: psycopg.Connection[Any]) -> None:
        warnings: list[str] = []

        def on_notice(diag: psycopg.errors.Diagnostic) -> None:
            if diag.severity_nonlocalized == "WARNING" and diag.message_primary:
                warnings.append(diag.message_primary)

        conn.add_notice_handler(on_notice)
        try:
            self._work(conn, warnings)
        finally:
            conn.remove_notice_handler(on_notice)

    def _work(self, conn: psycopg.Connection[Any], warnings: list[str]) -> None:
        while True:
            if self.guard is not None and self.pending:
                self.guard.wait(self.stop)  # while the application is slow, start nothing
            if (index := self._next()) is None:
                return
            warnings.clear()
            try:
                self.results[index] = self._execute(conn, index, warnings)
            except Exception as exc:  # a bug or a lost connection: this task failed
                self.results[index] = Operation(self.tasks[index], "failed",
                                                error=one_line(exc))
            finally:
                self._finish(index)
            if conn.broken or conn.closed:
                return

    def _execute(self, conn: psycopg.Connection[Any], index: int,
                 warnings: list[str]) -> Operation:
        import psycopg

        task = self.tasks[index]
        op = Operation(task, "done")
        skip = _not_needed(conn, task)
        if skip:
            op.status, op.error = "skipped", skip
            self.emit(ProgressEvent("skipped", index, task, message=skip))
            return op
        if self.options.before_heavy is not None and task.action != "analyze":
            try:
                self.options.before_heavy(conn, task)
            except WatotoError as exc:  # e.g. standbys still lagging: stop the whole run
                self.refusal = self.refusal or exc
                self.stop.set()
                with self.cond:
                    self.cond.notify_all()
                op.status, op.error = "not run", str(exc)
                return op
        op.size_before = _size(conn, task)
        pid = conn.info.backend_pid
        self.busy[pid] = index
        self.emit(ProgressEvent("start", index, task))
        started = time.monotonic()
        try:
            while True:
                op.attempts += 1
                try:
                    for statement in task.statements:
                        conn.execute(statement)  # rendered by psycopg
                    # VACUUM and ANALYZE of a table the role may not maintain only warn.
                    skipped = [w for w in warnings if "skipping" in w]
                    if skipped:
                        op.status, op.error = "skipped", skipped[0]
                    break
                except psycopg.Error as exc:
                    if conn.broken:
                        op.status, op.error = "failed", one_line(exc)
                        break
                    if task.action == "reindex":
                        _drop_leftovers(conn, task)
                    retryable = exc.sqlstate in _RETRYABLE
                    if retryable and op.attempts <= self.options.retries \
                            and not self.stop.is_set():
                        delay = backoff_delay(self.options.backoff, op.attempts - 1)
                        what = ("a deadlock" if exc.sqlstate == DEADLOCK_DETECTED else
                                f"lock not granted within {self.options.lock_timeout}")
                        self.emit(ProgressEvent(
                            "retry", index, task,
                            message=f"{what}; retry {op.attempts}/{self.options.retries} "
                            f"in {delay:g}s"))
                        if not self.stop.wait(delay):
                            continue
                    op.status = "blocked" if retryable else "failed"
                    op.error = one_line(exc)
                    break
        finally:
            self.busy.pop(pid, None)
        op.seconds = time.monotonic() - started
        if op.status == "skipped":
            self.emit(ProgressEvent("skipped", index, task, message=op.error))
        elif op.status == "done":
            op.size_after = _size(conn, task) if task.action != "drop_index" else 0
            self.emit(ProgressEvent("done", index, task))
        else:
            self.emit(ProgressEvent(op.status, index, task, message=op.error))
        return op


class _LatencyGuard:
    """Time a small read (``sql/maintenance/probe.sql``) every ``INTERVAL`` seconds from a
    connection of its own; ``wait()`` holds a worker back while the p90 of the last
    ``WINDOW`` seconds of probes is above the threshold, within the pause budget.

    The p90 of about ten probes, not their maximum: one slow probe on a busy machine is
    noise, several in a second are the application being slowed down.
    """

    INTERVAL = 0.1
    WINDOW = 1.0
    CALIBRATION = 1.0  # seconds of probes before the first operation, for a factor
    FLOOR_MS = 1.0  # a factor never sets the threshold below this: sub-ms probes jitter

    def __init__(self, target: Target, options: RunOptions, emit: _Emitter) -> None:
        self.emit = emit
        self.conn = connect(target, application_name=APPLICATION + " (probe)")
        self.query = sql_text("maintenance/probe.sql")
        self.samples: deque[tuple[float, float]] = deque()  # (monotonic time, ms)
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.account = Pacing(threshold_ms=options.pause_above_ms or 0.0, baseline_ms=None,
                              max_pause=options.max_pause)
        self.thread = threading.Thread(target=self._probe, daemon=True)
        self.thread.start()
        # A few probes before the first operation: a guard with no samples cannot judge.
        deadline = time.monotonic() + 3.0
        while self.observed() is None and self.thread.is_alive() \
                and time.monotonic() < deadline:
            time.sleep(self.INTERVAL / 2)
        if options.pause_above_ms is None and options.pause_above_factor is not None:
            time.sleep(self.CALIBRATION)
            baseline = self.observed(self.CALIBRATION) or 0.0
            self.account.baseline_ms = baseline
            self.account.threshold_ms = max(self.FLOOR_MS,
                                            options.pause_above_factor * baseline)

    def _probe(self) -> None:
        while not self.done.wait(self.INTERVAL):
            began = time.perf_counter()
            try:
                self.conn.execute(self.query).fetchone()
            except Exception:  # the probe's connection is gone: no guard, no pauses
                with self.lock:
                    self.samples.clear()
                return
            now = time.monotonic()
            ms = (time.perf_counter() - began) * 1000
            with self.lock:
                self.samples.append((now, ms))
                while self.samples and self.samples[0][0] < now - 10 * self.WINDOW:
                    self.samples.popleft()
                self.account.probes += 1
                self.account.probe_max_ms = max(self.account.probe_max_ms, ms)

    def observed(self, window: float | None = None) -> float | None:
        """The p90 (ms) of the probes of the last ``window`` seconds; None: too few yet."""
        since = time.monotonic() - (window or self.WINDOW)
        with self.lock:
            recent = sorted(ms for at, ms in self.samples if at >= since)
        if len(recent) < 3:
            return None
        return recent[min(len(recent) - 1, int(len(recent) * 0.9))]

    def wait(self, stop: threading.Event) -> None:
        """Return once the probes are under the threshold, the budget is spent, or
        ``stop`` is set."""
        account = self.account
        began: float | None = None
        try:
            while not stop.is_set() and self.thread.is_alive():
                now = time.monotonic()
                with self.lock:
                    spent = account.paused_seconds + (now - began if began else 0.0)
                if spent >= account.max_pause:
                    account.budget_spent = True
                    return
                latency = self.observed()
                if latency is None or latency <= account.threshold_ms:
                    return
                if began is None:
                    began = now
                    with self.lock:
                        account.pauses += 1
                    self.emit(ProgressEvent(
                        "paused", -1, None,
                        message=f"pausing: the probe's p90 is {latency:.1f} ms, above "
                        f"{account.threshold_ms:.1f} ms"))
                stop.wait(self.INTERVAL)
        finally:
            if began is not None:
                took = time.monotonic() - began
                with self.lock:
                    account.paused_seconds += took
                self.emit(ProgressEvent("resumed", -1, None,
                                        message=f"resuming after {took:.1f}s"))

    def close(self) -> None:
        self.done.set()
        self.thread.join(5)
        self.conn.close()


class _Watcher:
    """Poll the progress views for the workers' backends and report what they do."""

    def __init__(self, target: Target, runner: _Runner) -> None:
        self.runner = runner
        self.conn = connect(target, application_name=APPLICATION + " (progress)")
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        query = sql_text("maintenance/progress.sql")
        while not self.done.wait(0.5):
            busy = dict(self.runner.busy)
            if not busy:
                continue
            try:
                rows = dict_rows(self.conn, query, {"pids": list(busy)})
            except Exception:
                return
            for row in rows:
                index = busy.get(row["pid"])
                if index is not None:
                    done, total = row["done"], row["total"]
                    self.runner.emit(ProgressEvent(
                        "progress", index, self.runner.tasks[index], phase=row["phase"],
                        done=None if done is None else int(done),
                        total=None if total is None else int(total)))

    def close(self) -> None:
        self.done.set()
        self.thread.join(5)
        self.conn.close()


def _size(conn: psycopg.Connection[Any], task: Task) -> int | None:
    row = conn.execute(sql_text("maintenance/relation_size.sql"),
                       {"name": _ident(conn, task.schema, task.relation)}).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _not_needed(conn: psycopg.Connection[Any], task: Task) -> str | None:
    """Why a planned task must not run now (the database changed since the plan), if so."""
    row = conn.execute(
        "SELECT c.oid, x.indisvalid, EXISTS (SELECT 1 FROM pg_stat_progress_create_index p "
        "WHERE p.relid = x.indrelid OR p.index_relid = x.indexrelid) "
        "FROM pg_class c LEFT JOIN pg_index x ON x.indexrelid = c.oid "
        "WHERE c.oid = to_regclass(%s)", (_ident(conn, task.schema, task.relation),)
    ).fetchone()
    if row is None:
        return "already gone"
    if task.action in ("rebuild_index", "drop_index"):
        if row[1]:
            return "the index is valid now"
        if row[2]:
            return "a concurrent index build is running on its table now"
        if _migration_running(conn):
            return "a migration run holds the migration lock"
    return None


def _drop_leftovers(conn: psycopg.Connection[Any], task: Task) -> None:
    """Drop the INVALID ``_ccnew``/``_ccold`` copies a failed REINDEX CONCURRENTLY left.

    Best effort: what cannot be dropped now shows up in the next plan.
    """
    import psycopg

    base = task.relation[:40]
    for schema, name, table, building in conn.execute(sql_text("engine/invalid_indexes.sql")):
        if (schema, table) == (task.schema, task.table) and not building \
                and _LEFTOVER.search(name) and name.startswith(base):
            try:
                conn.execute(_statement(conn, "DROP INDEX CONCURRENTLY IF EXISTS {}", schema,
                                        name))
            except psycopg.Error:
                return

