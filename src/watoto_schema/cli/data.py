"""``sample-data``: load deterministic, realistic data for demos, tests and benchmarks."""

from __future__ import annotations

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
    """Load sample schools' data with COPY into a freshly migrated, empty database.

    Everything goes in one transaction; the same --seed and --students give the same data.
    """
    from .. import sample_data as lib
    from ..target import connect

    with connect(app.writable_target()) as conn:
        if if_empty and not lib.is_empty(conn):
            app.out.document({"students": 0, "rows": {}, "skipped": "database has data"})
            app.out.line("The database already has data: left as it is.")
            return
        result = lib.load(conn, students, seed=seed,
                          progress=lambda table, n: app.out.note(f"  {table}: {n:,} rows"))
    app.out.document({"students": result.students, "rows": result.rows,
                      "seconds": round(result.seconds, 3)})
    app.out.table(None, ["table", "rows"], [[t, f"{n:,}"] for t, n in result.rows.items()])
    app.out.line(f"loaded {sum(result.rows.values()):,} rows in {result.seconds:.1f}s")
