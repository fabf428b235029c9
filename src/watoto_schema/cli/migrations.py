"""``migrate``, ``rollback``, ``status``, ``verify``, ``repair``, ``baseline`` and ``new``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .context import AppContext

if TYPE_CHECKING:
    from ..cache.after_migrate import CacheRun
    from ..lint import LintReport
    from ..migrate import RunOptions, RunResult

pass_app = click.make_pass_decorator(AppContext)


def _run_options(func: Any) -> Any:
    """The options shared by every command that takes the migration lock and runs SQL."""
    options = [
        click.option("--lock-wait", type=click.FloatRange(min=0), default=60.0,
                     show_default=True, metavar="SECONDS",
                     help="How long to wait for another run's migration lock, then exit 3."),
        click.option("--lock-timeout", default="3s", show_default=True, metavar="DURATION",
                     help="lock_timeout of each migration (a file's `-- lock_timeout:` wins)."),
        click.option("--statement-timeout", default="30min", show_default=True,
                     metavar="DURATION", help="statement_timeout of each migration "
                     "(a file's `-- statement_timeout:` wins; 0 = none)."),
        click.option("--retries", type=click.IntRange(min=0), default=5, show_default=True,
                     help="Retries, with backoff, of a migration whose locks were not granted "
                     "within lock_timeout; then exit 3 naming the blocking session."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _options(lock_wait: float, lock_timeout: str, statement_timeout: str,
             retries: int) -> RunOptions:
    from ..migrate import RunOptions
    from ..sources import duration

    return RunOptions(lock_timeout=duration(lock_timeout, "--lock-timeout"),
                      statement_timeout=duration(statement_timeout, "--statement-timeout"),
                      retries=retries, lock_wait=lock_wait)


@click.command()
@click.option("--to", "to", metavar="VERSION",
              help="Apply up to and including VERSION (full id or numeric prefix).")
@click.option("--dry-run", is_flag=True,
              help="Print the exact SQL, transaction boundaries and settings; change nothing.")
@click.option("--no-premake", "premake", flag_value=False, default=True,
              help="Do not run `partitions ensure` after migrations were applied.")
@click.option("--wait-replicas", "wait_replicas", is_flag=False, flag_value="60s",
              default=None, metavar="[TIMEOUT]",
              help="After each migration, wait until every standby has replayed it "
              "(default 60s); exit 3 naming a standby still behind.")
@click.option("--max-replica-lag", "max_lag", metavar="LIMIT",
              help="Before each statement of a non-transactional migration (concurrent "
              "index builds) and each backfill batch of an online one, wait while a standby "
              "lags more than LIMIT: bytes (64MB) or seconds (30s).")
@click.option("--replica-lag-wait", "lag_wait", default="10min", show_default=True,
              metavar="DURATION", help="How long to wait for lagging standbys, then exit 3.")
@click.option("--allow-unsafe", is_flag=True,
              help="Apply even when `lint` finds error-level problems in the pending "
              "migrations (otherwise exit 3 naming them).")
@click.option("--no-lint", "run_lint", flag_value=False, default=True,
              help="Do not lint the pending migrations (nothing is refused for what lint "
              "would find). Without it, a migration whose lint verdict is known for its "
              "exact text is not linted again (docs/lint.md).")
@click.option("--complete", is_flag=True,
              help="Contract the active online migration: retire the old version's shape "
              "(docs/online.md); exit 1 when none is active.")
@click.option("--batch-size", "batch_rows", type=click.IntRange(min=1), default=1000,
              show_default=True, metavar="ROWS",
              help="Rows per batch of an online migration's backfill.")
@click.option("--batch-pause", type=click.FloatRange(min=0), default=0.0, show_default=True,
              metavar="SECONDS", help="Pause between backfill batches.")
@click.option("--require-cache-invalidation", "require_cache", is_flag=True,
              help="With a Redis (--redis): exit 1 when the cached families of a migration's "
              "tables could not be invalidated (the migration stays applied). Without it, "
              "warn and exit 0.")
@_run_options
@pass_app
def migrate(app: AppContext, /, to: str | None, dry_run: bool, premake: bool,
            wait_replicas: str | None, max_lag: str | None, lag_wait: str,
            allow_unsafe: bool, run_lint: bool, complete: bool, batch_rows: int,
            batch_pause: float, require_cache: bool, **run: Any) -> None:
    """Apply pending migrations, each atomically with its schema_migrations row.

    Refuses (exit 3) when an applied migration's file was edited (see `verify`, `repair`)
    or is missing, when the migration lock or a table lock cannot be had in time, or when
    `lint` finds error-level problems in what it would apply (--allow-unsafe; --dry-run
    shows the findings with the SQL; --no-lint does not lint).
    A partially applied non-transactional migration is resumed. When migrations were
    applied, the partitions of sql/partitions.toml are then premade up to their horizon
    (`partitions ensure`), so the database is ready and in sync; --no-premake skips that.
    A migration headed `-- online: true` runs its expand phase and stays active, the old
    and the new shape served at once, until `migrate --complete` (docs/online.md).
    """
    from ..migrate.pipeline import MigrateSettings
    from ..migrate.pipeline import run as run_migrate

    target = app.writable_target(dry_run)
    options = _options(**run)
    options.complete, options.allow_unsafe = complete, allow_unsafe
    options.batch_rows, options.batch_pause = batch_rows, batch_pause
    settings = MigrateSettings(options=options, premake=premake, require_cache=require_cache,
                               run_lint=run_lint)
    if run_lint:
        from .lint import settings as lint_settings

        settings.lint = lint_settings(app)
    if wait_replicas is not None:
        from ..replicas import parse_seconds

        settings.wait_replicas = parse_seconds(wait_replicas, "--wait-replicas")
    if max_lag is not None:
        from ..replicas import parse_lag_limit, parse_seconds

        settings.max_lag = parse_lag_limit(max_lag)
        settings.lag_wait = parse_seconds(lag_wait, "--replica-lag-wait")
    settings.cache_target = app.cache_target()
    if settings.cache_target is not None:
        settings.cache_policy = app.cache_policy()
    outcome = run_migrate(target, settings, to=to, extra_dirs=app.extra_dirs, dry_run=dry_run,
                          on_event=app.out.note)
    _render_run(app, outcome.result, outcome.premade, outcome.findings, outcome.cache)


@click.command()
@click.option("--to", "to", metavar="VERSION", help="Roll back everything applied after VERSION.")
@click.option("--steps", type=click.IntRange(min=1), metavar="N",
              help="Roll back the last N applied migrations.")
@click.option("--all", "everything", is_flag=True, help="Roll back every applied migration.")
@click.option("--dry-run", is_flag=True,
              help="Print the exact SQL, transaction boundaries and settings; change nothing.")
@_run_options
@pass_app
def rollback(app: AppContext, /, to: str | None, steps: int | None, everything: bool,
             dry_run: bool, **run: Any) -> None:
    """Roll back applied migrations, newest first (exactly one of --to, --steps, --all)."""
    from .. import migrate as lib

    if sum((to is not None, steps is not None, everything)) != 1:
        raise click.UsageError("give exactly one of --to VERSION, --steps N, --all")
    result = lib.rollback(app.writable_target(dry_run), to=to, steps=steps, everything=everything,
                          extra_dirs=app.extra_dirs, options=_options(**run), dry_run=dry_run,
                          on_event=app.out.note)
    _render_run(app, result)


_VERBS = {"apply": "applied", "rollback": "rolled back", "repair": "re-recorded",
          "baseline": "baselined"}


def _render_run(app: AppContext, result: RunResult, premade: list[str] | None = None,
                findings: LintReport | None = None, cache: CacheRun | None = None) -> None:
    verb = _VERBS[result.direction]
    if result.sql is not None:
        dry: dict[str, Any] = {"direction": result.direction, "target": result.target,
                               "dry_run": True, "versions": result.done, "sql": result.sql}
        if findings is not None:
            dry["lint"] = [f.as_dict() for f in findings.findings]
        if cache is not None:
            dry["cache_invalidation"] = [m.as_dict() for m in cache.migrations]
        app.out.document(dry)
        if findings is not None and findings.findings:
            from ..lint.report import compiler_lines

            app.out.raw("".join(f"-- lint: {line}\n" for f in findings.findings
                                for line in compiler_lines(f, indent="  ")))
            if findings.errors:
                app.out.raw(f"-- lint: migrate refuses to apply these migrations "
                            f"({len(findings.errors)} error(s) above) without --allow-unsafe\n")
            app.out.raw("\n")
        app.out.raw(result.sql)
        if cache is not None:
            from .cache import render_cache

            render_cache(app, cache, dry_run=True)
        return
    doc: dict[str, Any] = {"direction": result.direction, "target": result.target,
                           "dry_run": False, "versions": result.done, "retries": result.retries,
                           "seconds": round(result.seconds, 3)}
    if premade is not None:
        doc["premade_partitions"] = premade
    if cache is not None:
        doc["cache_invalidation"] = [m.as_dict() for m in cache.migrations]
        doc["cache_not_invalidated"] = cache.missed
    if result.online is not None:
        doc["online"] = online_document(result.online)
    if result.aborted is not None:
        doc["aborted"] = result.aborted
    app.out.document(doc)
    if result.aborted is not None:
        app.out.line(f"aborted online migration {result.aborted} (an interrupted rollback)")
    if result.online is not None:
        _render_online(app, result.online)
    if not result.done:
        if result.online is None and result.aborted is None:
            app.out.line("Nothing to do.")
        return
    for version in result.done:
        app.out.line(f"{verb} {version}")
    app.out.line(f"{len(result.done)} migration(s) {verb} in {result.seconds:.2f}s")
    if premade:
        app.out.line(f"premade {len(premade)} partition(s) up to the policy's horizon: "
                     + ", ".join(premade))
    if cache is not None:
        from .cache import render_cache

        render_cache(app, cache, dry_run=False)


_COLOURS = {"applied": "green", "pending": "yellow", "partial": "red", "edited": "red",
            "missing": "red", "active": "cyan", "expanding": "red", "completing": "red",
            "aborting": "red"}


@click.command()
@pass_app
def status(app: AppContext) -> None:
    """Show every migration: applied, pending, partial, edited or missing.

    Read-only: creates nothing and never waits on the migration lock. Also lists INVALID
    indexes (a build still in progress is marked as such).
    """
    from .. import migrate as lib

    report = lib.status(app.target(), extra_dirs=app.extra_dirs)
    app.out.document({
        "target": report.target,
        "applied": len(report.applied),
        "pending": len(report.pending),
        "partial": len(report.partial),
        "versions": [
            {"version": v.version, "state": v.state, "applied_at": v.applied_at,
             "applied_by": v.applied_by, "duration_ms": v.duration_ms,
             "transactional": v.transactional, "detail": v.detail}
            for v in report.versions
        ],
        "invalid_indexes": [
            {"schema": i.schema, "index": i.index, "table": i.table,
             "build_in_progress": i.build_in_progress} for i in report.invalid_indexes
        ],
        "online": None if report.online is None else online_document(report.online),
    })
    rows = [
        [v.version, f"[{_COLOURS[v.state]}]{v.state}[/]",
         v.applied_at.isoformat(sep=" ", timespec="seconds") if v.applied_at else "",
         v.applied_by or "", v.detail or ""]
        for v in report.versions
    ]
    columns = ["version", "state", "applied_at", "applied_by", "note"]
    if not any(v.detail for v in report.versions):
        columns, rows = columns[:-1], [r[:-1] for r in rows]
    app.out.table(report.target, columns, rows)
    for index in report.invalid_indexes:
        what = "being built" if index.build_in_progress else "INVALID (a failed build)"
        app.out.line(f"index {index.schema}.{index.index} on {index.table}: {what}")
    if report.online is not None:
        _render_online(app, report.online)
    summary = f"{len(report.applied)} applied, {len(report.pending)} pending"
    if report.partial:
        summary += f", {len(report.partial)} partially applied (run migrate to resume)"
    app.out.line(summary)


@click.command()
@pass_app
def verify(app: AppContext) -> None:
    """Compare applied migrations with their files (read-only; exit 2 when anything is off).

    Lists applied migrations whose file (or rollback file) changed, applied migrations whose
    file is gone, partially applied ones, and files not yet applied. Whitespace-only edits
    do not count.
    """
    from .. import migrate as lib
    from ..errors import EXIT_DIFFERENCES

    report = lib.verify(app.target(), extra_dirs=app.extra_dirs)
    groups = {"edited": report.edited, "rollback_edited": report.rollback_edited,
              "missing": report.missing, "partial": report.partial,
              "pending": report.pending, "unrecorded": report.unrecorded}
    app.out.document({"target": report.target, "clean": report.clean, **groups})
    labels = {"edited": "applied, file edited since", "rollback_edited": "rollback file edited",
              "missing": "applied, file gone", "partial": "partially applied",
              "pending": "not applied yet", "unrecorded": "applied without a checksum "
              "(run repair to record one)"}
    for key, versions in groups.items():
        for version in versions:
            app.out.line(f"{version}: {labels[key]}")
    app.out.line("in sync: every applied migration matches its file" if report.clean
                 else "differences found")
    if not report.clean:
        raise click.exceptions.Exit(EXIT_DIFFERENCES)


@click.command()
@click.option("--lock-wait", type=click.FloatRange(min=0), default=60.0, show_default=True,
              metavar="SECONDS", help="How long to wait for another run's migration lock.")
@pass_app
def repair(app: AppContext, lock_wait: float) -> None:
    """Accept reviewed edits: re-record the checksums of applied migrations' files."""
    from .. import migrate as lib

    result = lib.repair(app.writable_target(), extra_dirs=app.extra_dirs,
                        options=lib.RunOptions(lock_wait=lock_wait))
    _render_run(app, result)


@click.command()
@click.option("--to", "to", metavar="VERSION",
              help="Baseline up to and including VERSION (default: every migration).")
@click.option("--lock-wait", type=click.FloatRange(min=0), default=60.0, show_default=True,
              metavar="SECONDS", help="How long to wait for another run's migration lock.")
@pass_app
def baseline(app: AppContext, to: str | None, lock_wait: float) -> None:
    """Adopt a hand-built database: record migrations as applied without running them.

    Checks first that every object those migrations create is present; refuses (exit 3)
    otherwise, or when the database already has applied migrations.
    """
    from .. import migrate as lib

    result = lib.baseline(app.writable_target(), to=to, extra_dirs=app.extra_dirs,
                          options=lib.RunOptions(lock_wait=lock_wait))
    _render_run(app, result)


@click.command()
@click.argument("name")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write into (default: the last --migrations folder, else "
              "./migrations).")
@click.option("--non-transactional", is_flag=True,
              help="For CREATE/DROP/REINDEX ... CONCURRENTLY (`-- transactional: false`).")
@pass_app
def new(app: AppContext, name: str, folder: Path | None, non_transactional: bool) -> None:
    """Scaffold the next numbered migration NAME and its rollback file."""
    from .. import migrate as lib

    if folder is None:
        folder = app.extra_dirs[-1] if app.extra_dirs else Path("migrations")
    written = lib.new(name, folder, app.extra_dirs, transactional=not non_transactional)
    app.out.document({"files": [str(p) for p in written]})
    for path in written:
        app.out.line(f"created {path}")


def online_document(state: Any) -> dict[str, Any]:
    """An online migration in progress, as `status --json` and `migrate --json` show it."""
    return {
        "version": state.version, "phase": state.phase, "step": state.step,
        "steps": len(state.steps), "started_by": state.started_by,
        "started_at": state.started_at,
        "backfill": {"rows_done": state.rows_done, "rows_total": state.rows_total,
                     "rows_per_second": None if state.rate is None else round(state.rate, 1),
                     "eta_seconds": None if state.eta_seconds is None
                     else round(state.eta_seconds, 1),
                     "relations": [{"relation": b.relation, "rows_done": b.rows_done,
                                    "rows_total": b.rows_total, "done": b.done}
                                   for b in state.backfill]},
        "versions": state.versions(),
        "operations": state.plan["operations"],
    }


def _render_online(app: AppContext, state: Any) -> None:
    what = {"expanding": "expanding", "active": "active (expanded: both versions served)",
            "completing": "completing", "aborting": "aborting"}[state.phase]
    app.out.line(f"online migration {state.version}: {what}")
    if state.phase in ("expanding", "completing", "aborting"):
        app.out.line(f"  step {state.step} of {len(state.steps)} done")
    if state.backfill or state.plan["backfills"]:
        rate = "" if state.rate is None else f", {state.rate:,.0f} rows/s"
        eta = "" if state.eta_seconds is None else f", about {state.eta_seconds:,.0f}s left"
        app.out.line(f"  backfill: {state.rows_done:,} of {state.rows_total:,} rows{rate}{eta}")
    for served in state.versions():
        app.out.line(f"  {served['version']} version: SET search_path = {served['search_path']}")
    if state.phase == "active":
        app.out.line("  next: roll out the new release with the new search_path, then "
                     "`migrate --complete` (or `rollback --steps 1` to abort)")

