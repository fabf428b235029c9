"""``migrate``, ``rollback`` and ``status``."""

from __future__ import annotations

import click

from .context import AppContext

pass_app = click.make_pass_decorator(AppContext)


@click.command()
@click.option("--to", "to", metavar="VERSION",
              help="Apply up to and including VERSION (full id or numeric prefix).")
@click.option("--lock-wait", type=click.FloatRange(min=0), default=60.0, show_default=True,
              metavar="SECONDS", help="How long to wait for another run's migration lock.")
@pass_app
def migrate(app: AppContext, to: str | None, lock_wait: float) -> None:
    """Apply pending migrations, each in its own transaction with its schema_migrations row."""
    from .. import migrate as lib

    result = lib.migrate(app.target(), to=to, extra_dirs=app.extra_dirs, lock_wait=lock_wait)
    _render_run(app, result)


@click.command()
@click.option("--to", "to", metavar="VERSION", help="Roll back everything applied after VERSION.")
@click.option("--steps", type=click.IntRange(min=1), metavar="N",
              help="Roll back the last N applied migrations.")
@click.option("--all", "everything", is_flag=True, help="Roll back every applied migration.")
@click.option("--lock-wait", type=click.FloatRange(min=0), default=60.0, show_default=True,
              metavar="SECONDS", help="How long to wait for another run's migration lock.")
@pass_app
def rollback(app: AppContext, to: str | None, steps: int | None, everything: bool,
             lock_wait: float) -> None:
    """Roll back applied migrations, newest first (exactly one of --to, --steps, --all)."""
    from .. import migrate as lib

    if sum((to is not None, steps is not None, everything)) != 1:
        raise click.UsageError("give exactly one of --to VERSION, --steps N, --all")
    result = lib.rollback(app.target(), to=to, steps=steps, everything=everything,
                          extra_dirs=app.extra_dirs, lock_wait=lock_wait)
    _render_run(app, result)


def _render_run(app: AppContext, result: object) -> None:
    from ..migrate import RunResult

    assert isinstance(result, RunResult)
    verb = "applied" if result.direction == "apply" else "rolled back"
    app.out.document({"direction": result.direction, "target": result.target,
                      verb.replace(" ", "_"): result.done, "seconds": round(result.seconds, 3)})
    if not result.done:
        app.out.line("Nothing to do: the database is already there.")
        return
    for version in result.done:
        app.out.line(f"{verb} {version}")
    app.out.line(f"{len(result.done)} migration(s) {verb} in {result.seconds:.2f}s")


@click.command()
@pass_app
def status(app: AppContext) -> None:
    """Show every migration as applied or pending (read-only, never waits on the lock)."""
    from .. import migrate as lib

    report = lib.status(app.target(), extra_dirs=app.extra_dirs)
    app.out.document({
        "target": report.target,
        "applied": len(report.applied),
        "pending": len(report.pending),
        "versions": [
            {"version": v.version, "state": v.state, "applied_at": v.applied_at,
             "transactional": v.transactional}
            for v in report.versions
        ],
    })
    rows = [
        [v.version, "[green]applied[/]" if v.state == "applied" else "[yellow]pending[/]",
         v.applied_at.isoformat(sep=" ", timespec="seconds") if v.applied_at else ""]
        for v in report.versions
    ]
    app.out.table(f"{report.target}", ["version", "state", "applied_at"], rows)
    app.out.line(f"{len(report.applied)} applied, {len(report.pending)} pending")
