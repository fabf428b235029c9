"""``maintain plan|run|analyze|vacuum|reindex``: ANALYZE, VACUUM and REINDEX, planned and safe."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..units import format_bytes
from .context import AppContext

if TYPE_CHECKING:
    from ..maintenance import MaintenancePlan, ProgressEvent, RunOptions, RunSummary, Task

pass_app = click.make_pass_decorator(AppContext)

ENV = "WATOTO_MAINTAIN_"

# Defaults of maintenance.Thresholds, repeated here so that --help needs no import of the
# library (tests/test_maintain.py checks that both agree).
THRESHOLD_DEFAULTS: dict[str, float] = {
    "dead_ratio": 0.2, "dead_min": 1000, "analyze_ratio": 0.1, "analyze_min": 1000,
    "stale_days": 7.0, "table_bloat_ratio": 0.4, "index_bloat_ratio": 0.4,
    "bloat_min_mb": 8.0, "wraparound_ratio": 0.5,
}
_THRESHOLD_HELP = {
    "dead_ratio": "VACUUM a table whose dead tuples are at least this share of its rows ...",
    "dead_min": "... and at least this many.",
    "analyze_ratio": "ANALYZE a table whose rows changed since its last analyze are at least "
                     "this share of its rows ...",
    "analyze_min": "... and at least this many (also: never-analyzed tables and "
                   "partitioned parents with this many rows).",
    "stale_days": "ANALYZE a table analyzed longer ago than this with rows changed since.",
    "table_bloat_ratio": "Report tables whose estimated wasted space is at least this share.",
    "index_bloat_ratio": "REINDEX CONCURRENTLY B-tree indexes whose estimated wasted space is "
                         "at least this share ...",
    "bloat_min_mb": "... when the waste is at least this many MB (tables and indexes).",
    "wraparound_ratio": "VACUUM (FREEZE) a table whose transaction-ID age is at least this "
                        "share of autovacuum_freeze_max_age.",
}


def _threshold_options(func: Any) -> Any:
    """The thresholds of `plan` and `run`; each can also come from WATOTO_MAINTAIN_<NAME>."""
    options = []
    for name, default in THRESHOLD_DEFAULTS.items():
        flag = "--" + name.replace("_", "-")
        kind: Any = (click.IntRange(min=0) if isinstance(default, int)
                     else click.FloatRange(min=0))
        metavar = name.rsplit("_", 1)[-1].upper().replace("MIN", "N")
        options.append(click.option(flag, name, type=kind, default=default, show_default=True,
                                    metavar=metavar, envvar=ENV + name.upper(),
                                    help=_THRESHOLD_HELP[name]))
    options += [
        click.option("--exact", is_flag=True,
                     help="Confirm estimated bloat with pgstattuple (reads each candidate in "
                     "full; leaf tables and B-tree indexes only)."),
        click.option("--create-extension", is_flag=True,
                     help="With --exact: allow CREATE EXTENSION IF NOT EXISTS pgstattuple."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _run_options(func: Any) -> Any:
    """The options of every form that runs statements."""
    options = [
        click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
                     envvar=ENV + "JOBS",
                     help="Operations run in parallel, one connection each (capped by the "
                     "free connection slots and at 8; never two on the same table)."),
        click.option("--lock-timeout", default="3s", show_default=True, metavar="DURATION",
                     help="lock_timeout of each statement; then retry with backoff."),
        click.option("--statement-timeout", default="0", show_default=True,
                     metavar="DURATION", help="statement_timeout of each statement (0 = none)."),
        click.option("--cost-delay", default="2ms", show_default=True, metavar="DURATION",
                     envvar=ENV + "COST_DELAY",
                     help="vacuum_cost_delay of VACUUM and ANALYZE, autovacuum's throttle "
                     "(0 = full speed)."),
        click.option("--pause-above", default="2x", show_default=True, metavar="MS|Nx|off",
                     envvar=ENV + "PAUSE_ABOVE",
                     help="Latency guard: a probe times a small read every 100 ms; before "
                     "each operation, wait while its p90 over the last second is above MS "
                     "milliseconds, or N times its p90 before the run (at least 1 ms); off: "
                     "never wait."),
        click.option("--max-pause", type=click.FloatRange(min=0), default=600.0,
                     show_default=True, metavar="SECONDS", envvar=ENV + "MAX_PAUSE",
                     help="The guard's pauses add up to at most this; then the run goes on "
                     "without pausing."),
        click.option("--retries", type=click.IntRange(min=0), default=5, show_default=True,
                     help="Retries of an operation whose locks were not granted in time."),
        click.option("--wait", is_flag=True,
                     help="Wait for another maintenance run to finish instead of exiting 3."),
        click.option("--lock-wait", type=click.FloatRange(min=0), default=0.0,
                     show_default=True, metavar="SECONDS",
                     help="How long to wait for another maintenance run, then exit 3."),
        click.option("--dry-run", is_flag=True,
                     help="Print the statements and the lock each takes; change nothing."),
        click.option("--max-replica-lag", "max_lag", metavar="LIMIT",
                     help="Before each VACUUM or REINDEX, wait while a standby lags more than "
                     "LIMIT: bytes (64MB) or seconds (30s)."),
        click.option("--replica-lag-wait", "lag_wait", default="10min", show_default=True,
                     metavar="DURATION",
                     help="How long to wait for lagging standbys, then stop with exit 3."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _options(jobs: int, lock_timeout: str, statement_timeout: str, cost_delay: str,
             pause_above: str, max_pause: float, retries: int, wait: bool, lock_wait: float,
             dry_run: bool, max_lag: str | None, lag_wait: str,
             allow_vacuum_full: bool = False,
             note: Callable[[str], None] | None = None) -> RunOptions:
    from ..maintenance import RunOptions
    from ..maintenance.model import pause_threshold
    from ..sources import duration

    pause_ms, pause_factor = pause_threshold(pause_above)
    options = RunOptions(jobs=jobs, lock_timeout=duration(lock_timeout, "--lock-timeout"),
                         statement_timeout=duration(statement_timeout, "--statement-timeout"),
                         cost_delay=duration(cost_delay, "--cost-delay"), retries=retries,
                         lock_wait=None if wait else lock_wait, dry_run=dry_run,
                         allow_vacuum_full=allow_vacuum_full, pause_above_ms=pause_ms,
                         pause_above_factor=pause_factor, max_pause=max_pause)
    if max_lag is not None:
        from ..replicas import parse_lag_limit, parse_seconds, wait_while_lagging

        limit_bytes, limit_seconds = parse_lag_limit(max_lag)
        timeout = parse_seconds(lag_wait, "--replica-lag-wait")
        options.before_heavy = lambda conn, task: wait_while_lagging(
            conn, max_bytes=limit_bytes, max_seconds=limit_seconds, timeout=timeout,
            before=f" before {task.title}", on_wait=note)
    return options


def _plan(app: AppContext, exact: bool, create_extension: bool, dry_run: bool,
          bloat_min_mb: float, **values: Any) -> MaintenancePlan:
    from .. import maintenance as lib

    thresholds = lib.Thresholds(bloat_min_bytes=int(bloat_min_mb * 1024 * 1024), **values)
    return lib.plan(app.target(), thresholds, exact=exact,
                    create_extension=create_extension and not dry_run)


@click.group()
def maintain() -> None:
    """Plan and run ANALYZE, VACUUM and REINDEX without blocking the application.

    `plan` lists what needs work and why (exit 2 when there is work). `run` does it: every
    statement in autocommit under lock_timeout with retries, REINDEX and index rebuilds
    CONCURRENTLY, never VACUUM FULL. `analyze`, `vacuum` and `reindex` act on the tables
    and indexes you name. Runs serialise on an advisory lock. Exit status of `run` and the
    direct forms: 0 everything ran, 1 an operation failed, 3 another run holds the lock
    (or every failure was a lock not granted in time, or VACUUM FULL without --yes).
    """


@maintain.command(name="plan")
@_threshold_options
@pass_app
def plan_command(app: AppContext, /, exact: bool, create_extension: bool,
                 **thresholds: Any) -> None:
    """List what needs ANALYZE, VACUUM or REINDEX and why (exit 2 when there is work).

    Reads the statistics views and the catalog only (with --exact also each candidate, via
    pgstattuple). INVALID indexes are listed for a rebuild unless a build is running.
    """
    from ..errors import EXIT_DIFFERENCES

    result = _plan(app, exact, create_extension, False, **thresholds)
    app.out.document(result.as_dict())
    _render_plan(app, result)
    if not result.clean:
        raise click.exceptions.Exit(EXIT_DIFFERENCES)


@maintain.command(name="run")
@_threshold_options
@_run_options
@pass_app
def run_command(app: AppContext, /, exact: bool, create_extension: bool, jobs: int,
                lock_timeout: str, statement_timeout: str, cost_delay: str, pause_above: str,
                max_pause: float, retries: int, wait: bool, lock_wait: float, dry_run: bool,
                max_lag: str | None, lag_wait: str, **thresholds: Any) -> None:
    """Plan, then run what the plan lists, with a progress bar per operation.

    Each statement runs in autocommit under lock_timeout and is retried with backoff;
    VACUUM, ANALYZE and the concurrent index operations let reads and writes go on.
    A summary table says what ran, how long it took and the sizes before and after.
    With --max-replica-lag, each VACUUM and REINDEX first waits while a standby lags more
    than the limit (they write much WAL); when the wait runs out the run stops, exit 3.
    """
    options = _options(jobs, lock_timeout, statement_timeout, cost_delay, pause_above,
                       max_pause, retries, wait, lock_wait, dry_run, max_lag, lag_wait,
                       note=app.out.note)
    result = _plan(app, exact, create_extension, dry_run, **thresholds)
    for finding in result.advice:
        app.out.note(f"advice: {finding.schema}.{finding.relation}: {finding.reason}")
    for note in result.notes:
        app.out.note(f"note: {note}")
    _execute(app, result, options)


@maintain.command()
@click.option("--table", "tables", multiple=True, metavar="TABLE",
              help="A table to analyze, [schema.]name (repeatable; default: every table).")
@_run_options
@pass_app
def analyze(app: AppContext, /, tables: tuple[str, ...], **run: Any) -> None:
    """ANALYZE tables (SHARE UPDATE EXCLUSIVE: reads and writes go on).

    A partitioned table is analyzed through its parent, which autovacuum never does; that
    also analyzes each partition.
    """
    from .. import maintenance as lib

    _execute(app, lib.analyze_tasks(app.target(), tables), _options(**run, note=app.out.note))


@maintain.command()
@click.option("--table", "tables", multiple=True, metavar="TABLE",
              help="A table to vacuum, [schema.]name (repeatable; default: every table). "
              "A partitioned table means each of its partitions.")
@click.option("--analyze/--no-analyze", "with_analyze", default=True, show_default=True,
              help="VACUUM (ANALYZE): refresh planner statistics too.")
@click.option("--freeze", is_flag=True, help="VACUUM (FREEZE): freeze every row now.")
@click.option("--full", is_flag=True,
              help="VACUUM FULL: rewrite each table compactly, under ACCESS EXCLUSIVE (every "
              "read and write waits); only with --yes.")
@click.option("--yes", is_flag=True, help="Confirm --full.")
@_run_options
@pass_app
def vacuum(app: AppContext, /, tables: tuple[str, ...], with_analyze: bool, freeze: bool,
           full: bool, yes: bool, **run: Any) -> None:
    """VACUUM tables (SHARE UPDATE EXCLUSIVE: reads and writes go on).

    --full --yes runs VACUUM FULL instead, which holds ACCESS EXCLUSIVE on each table
    until its rewrite ends; without --yes it is refused (exit 3).
    """
    from .. import maintenance as lib

    options = _options(**run, allow_vacuum_full=full and yes, note=app.out.note)
    tasks = lib.vacuum_tasks(app.target(), tables, full=full, freeze=freeze,
                             analyze=with_analyze)
    if full and (yes or options.dry_run):
        app.out.note("warning: VACUUM FULL holds an ACCESS EXCLUSIVE lock on each table until "
                     "its rewrite ends: every read and write of that table waits. Run it in a "
                     "maintenance window, or use pg_repack.")
    _execute(app, tasks, options)


@maintain.command()
@click.option("--table", "tables", multiple=True, metavar="TABLE",
              help="Reindex every index of this table, [schema.]name (repeatable).")
@click.option("--index", "indexes", multiple=True, metavar="INDEX",
              help="Reindex this index, [schema.]name (repeatable). A partitioned index "
              "means each of its partitions' indexes.")
@_run_options
@pass_app
def reindex(app: AppContext, /, tables: tuple[str, ...], indexes: tuple[str, ...],
            **run: Any) -> None:
    """REINDEX INDEX CONCURRENTLY, one index at a time (default: every index).

    Takes SHARE UPDATE EXCLUSIVE on the table: reads and writes go on. An INVALID index is
    dropped and re-created concurrently; a `_ccnew` leftover is dropped.
    """
    from .. import maintenance as lib

    _execute(app, lib.reindex_tasks(app.target(), tables, indexes),
             _options(**run, note=app.out.note))


# -- rendering -------------------------------------------------------------------------------

def _render_plan(app: AppContext, result: MaintenancePlan) -> None:
    from rich.markup import escape

    if result.tasks:
        app.out.table(
            escape(f"{result.target}: {len(result.tasks)} operation(s) to do"),
            ["operation", "why", "lock"],
            [[escape(t.title), escape("\n".join(t.reasons)), escape(t.lock)]
             for t in result.tasks])
    for finding in result.advice:
        app.out.line(escape(f"advice: {finding.schema}.{finding.relation}: {finding.reason}"))
    for finding in result.in_progress:
        app.out.line(escape(f"in progress: {finding.schema}.{finding.relation}: "
                            f"{finding.reason}"))
    for note in result.notes:
        app.out.line(escape(f"note: {note}"))
    if result.tasks:
        app.out.line("work to do: `watoto-schema maintain run` does it (--dry-run shows the "
                     "statements)")
    else:
        app.out.line("Nothing to do: statistics, dead tuples, bloat, indexes and transaction "
                     "ID ages are within the thresholds.")


def _execute(app: AppContext, work: MaintenancePlan | list[Task], options: RunOptions) -> None:
    from .. import maintenance as lib

    target = app.writable_target(options.dry_run)  # a standby is refused before any work
    with _ProgressView(app) as view:
        summary = lib.run(target, work, options, on_progress=view)
    _render_summary(app, summary)
    summary.raise_for_failures()


_STATUS = {"done": "green", "skipped": "yellow", "failed": "red", "blocked": "red",
           "not run": "red"}


def _render_summary(app: AppContext, summary: RunSummary) -> None:
    from rich.markup import escape

    app.out.document(summary.as_dict())
    if summary.script is not None:
        app.out.raw(summary.script)
        return
    for note in summary.notes:
        app.out.note(f"note: {note}")
    if not summary.operations:
        app.out.line("Nothing to do.")
        return
    rows = [[escape(op.task.title), f"[{_STATUS.get(op.status, 'white')}]{op.status}[/]",
             f"{op.seconds:.1f}s", format_bytes(op.size_before), format_bytes(op.size_after),
             escape(op.error or (f"{op.attempts} attempts" if op.attempts > 1 else ""))]
            for op in summary.operations]
    app.out.table(None, ["operation", "status", "time", "size before", "size after", "note"],
                  rows)
    counts: dict[str, int] = {}
    for op in summary.operations:
        counts[op.status] = counts.get(op.status, 0) + 1
    app.out.line(f"{len(summary.operations)} operation(s): "
                 + ", ".join(f"{n} {status}" for status, n in counts.items())
                 + f" in {summary.seconds:.1f}s with {summary.jobs} job(s)")
    pacing = summary.pacing
    if pacing is not None:
        base = (f", {pacing.baseline_ms:.2f} ms before the run"
                if pacing.baseline_ms is not None else "")
        app.out.line(f"latency guard: paused {pacing.pauses} time(s), "
                     f"{pacing.paused_seconds:.1f}s in all (probe p90 above "
                     f"{pacing.threshold_ms:.2f} ms{base}; at most {pacing.max_pause:g}s)")


class _ProgressView:
    """Progress on stderr: a rich bar per running operation on a terminal, else log lines."""

    def __init__(self, app: AppContext) -> None:
        self.app = app
        self.started: dict[int, float] = {}
        self.bars: Any = None
        self.ids: dict[int, Any] = {}
        if not app.as_json and app.out.err.is_terminal:
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bars = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 TaskProgressColumn(), TextColumn("{task.fields[phase]}"),
                                 TimeElapsedColumn(), console=app.out.err)

    def __enter__(self) -> _ProgressView:
        if self.bars is not None:
            self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bars is not None:
            self.bars.stop()

    def _say(self, text: str) -> None:
        if self.bars is not None:
            from rich.markup import escape

            self.bars.console.print(escape(text), highlight=False)
        else:
            self.app.out.note(text)

    def __call__(self, event: ProgressEvent) -> None:
        title = event.task.title if event.task else ""
        kind = event.event
        if kind == "waiting":
            self._say(event.message or "waiting for the maintenance lock")
            return
        if kind in ("paused", "resumed"):  # the latency guard
            if not self.app.as_json:
                self._say(event.message or kind)
            return
        if kind == "start":
            self.started[event.index] = time.monotonic()
            if self.bars is not None:
                from rich.markup import escape

                self.ids[event.index] = self.bars.add_task(escape(title), total=None, phase="")
            elif not self.app.as_json:
                self._say(f"started {title}")
            return
        if kind == "progress":
            if self.bars is not None and event.index in self.ids:
                self.bars.update(self.ids[event.index], completed=event.done or 0,
                                 total=event.total or None, phase=event.phase or "")
            return
        seconds = time.monotonic() - self.started.get(event.index, time.monotonic())
        if event.index in self.ids and kind != "retry":
            self.bars.remove_task(self.ids.pop(event.index))
        if kind == "retry":
            self._say(f"{title}: {event.message}")
        elif kind == "done":
            if not self.app.as_json:
                self._say(f"done {title} in {seconds:.1f}s")
        else:  # failed, blocked, skipped
            self._say(f"{kind} {title}: {event.message}")
