"""``sample-data``: load deterministic, realistic data for demos, tests and benchmarks."""

from __future__ import annotations

from typing import Any

import click

from .context import AppContext

pass_app = click.make_pass_decorator(AppContext)


@click.command(name="sample-data")
@click.option("--students", type=click.IntRange(min=1), default=1000, show_default=True,
              help="How many students to create (teachers, courses and the rest scale with it).")
@click.option("--seed", type=int, default=7, show_default=True,
              help="Random seed: the same seed and size give the same data.")
@click.option("--if-empty", is_flag=True,
              help="Do nothing (exit 0) when the database already has data, instead of failing.")
@pass_app
def sample_data(app: AppContext, students: int, seed: int, if_empty: bool) -> None:
    """Bulk-load sample schools' data into a freshly migrated, empty database.

    Everything goes in one transaction; the same --seed and --students give the same data.
    Keys and indexes are built after the rows are in, the guarantees (unique emails, one
    enrollment per student and course, progress only for real enrollments) are checked,
    the tables ANALYZEd, and the database marked as filled by sample-data (its COMMENT),
    which `loadtest` looks for. A second connection to the same database makes module
    progress and submissions on the server.
    """
    from .. import sample_data as lib
    from ..target import connect

    with connect(app.writable_target()) as conn:
        if if_empty and not lib.is_empty(conn):
            app.out.document({"students": 0, "rows": {}, "skipped": "database has data"})
            app.out.line("The database already has data: left as it is.")
            return
        with _LoadView(app) as view:
            result = lib.load(conn, students, seed=seed, progress=view.table_done,
                              on_step=view.step)
    app.out.document({"students": result.students, "rows": result.rows,
                      "seconds": round(result.seconds, 3), "steps": result.steps,
                      "marked": result.marked})
    app.out.table(None, ["table", "rows"], [[t, f"{n:,}"] for t, n in result.rows.items()])
    app.out.line(f"loaded {sum(result.rows.values()):,} rows in {result.seconds:.1f}s")
    if not result.marked:
        app.out.note("the database is not marked as sample data (its owner may COMMENT ON it): "
                     "loadtest will need --yes")


class _LoadView:
    """Progress on stderr: a rich spinner with the current step on a terminal, else a line
    per loaded table."""

    def __init__(self, app: AppContext) -> None:
        self.app = app
        self.status: Any = None
        if not app.as_json and app.out.err.is_terminal:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.status = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                   TimeElapsedColumn(), console=app.out.err, transient=True)
            self.task = self.status.add_task("preparing", total=None)

    def __enter__(self) -> _LoadView:
        if self.status is not None:
            self.status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.stop()

    def step(self, text: str) -> None:
        if self.status is not None:
            from rich.markup import escape

            self.status.update(self.task, description=escape(text))

    def table_done(self, table: str, rows: int) -> None:
        if self.status is not None:
            self.status.console.print(f"  {table}: {rows:,} rows", markup=False,
                                      highlight=False)
        else:
            self.app.out.note(f"  {table}: {rows:,} rows")
