"""``drift``: how live databases differ from what their migrations say."""

from __future__ import annotations

from pathlib import Path

import click

from .context import AppContext

pass_app = click.make_pass_decorator(AppContext)


@click.command()
@click.option("--against", multiple=True, metavar="DSN",
              help="Also compare this database (e.g. a read replica) with the same expected "
              "schema (repeatable).")
@click.option("--sql", "as_sql", is_flag=True,
              help="Print a script that fixes the safe subset; destructive fixes commented out.")
@click.option("--destructive", is_flag=True,
              help="With --sql: emit the destructive and lock-heavy statements too (drops, "
              "type changes, keys on partitioned tables): run with psql -v ON_ERROR_STOP=1, "
              "the script converges.")
@click.option("--privileges", is_flag=True, help="Compare owners and grants too.")
@click.option("--comments", is_flag=True, help="Compare comments (COMMENT ON) too.")
@click.option("--no-cache", is_flag=True,
              help="Rebuild the expected schema even if a cached copy exists.")
@click.option("--policy", "policy_file", metavar="FILE",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Partition policy to judge partitions by (default: sql/partitions.toml).")
@click.option("--all-nodes", is_flag=True,
              help="Every host of a multi-host DSN: the primary, then each standby; a "
              "standby merely behind is reported with its lag, not as drift.")
@pass_app
def drift(app: AppContext, against: tuple[str, ...], as_sql: bool, destructive: bool,
          privileges: bool,
          comments: bool, no_cache: bool, policy_file: Path | None, all_nodes: bool) -> None:
    """Compare the database with the schema its applied migrations build (exit 2 on drift).

    The expected schema is built in a scratch database on the same server (or a throwaway
    embedded cluster when the server refuses CREATE DATABASE) and cached by the migrations'
    checksums. Partitions that follow the pattern of the migrated ones are not drift.
    """
    from .. import drift as lib
    from ..errors import EXIT_DIFFERENCES

    if destructive and not as_sql:
        raise click.UsageError("--destructive changes the --sql script: give --sql too")
    if all_nodes:
        if against:
            raise click.UsageError("--all-nodes finds the standbys itself: no --against")
        reports = lib.drift_all_nodes(app.target(), extra_dirs=app.extra_dirs,
                                      privileges=privileges, comments=comments,
                                      use_cache=not no_cache, policy_file=policy_file,
                                      for_fix=as_sql)
    else:
        reports = lib.drift(app.target(), against=[app.other_target(d, "--against")
                                                   for d in against],
                            extra_dirs=app.extra_dirs, privileges=privileges,
                            comments=comments, use_cache=not no_cache,
                            policy_file=policy_file, for_fix=as_sql)
    in_sync = not any(r.drifted for r in reports)
    if as_sql:
        fixed = [r for r in reports if r.behind_bytes is None]  # lag: no fix
        from ..drift import fix_sql

        scripts = [fix_sql(r, destructive=destructive) for r in fixed]
        app.out.document({"in_sync": in_sync, "scripts": scripts,
                          "unfixable": {k: v for r in fixed for k, v in r.unfixable.items()}})
        app.out.raw("\n".join(scripts))
    else:
        app.out.document({"in_sync": in_sync, "reports": [r.as_dict() for r in reports]})
        for report in reports:
            _render(app, report)
    if not in_sync:
        raise click.exceptions.Exit(EXIT_DIFFERENCES)


def _render(app: AppContext, report: object) -> None:
    from ..drift import DriftReport
    from .output import escape

    assert isinstance(report, DriftReport)
    if report.behind_bytes is not None:
        app.out.line(f"[bold]{escape(report.target)}[/]: [yellow]behind[/] by "
                     f"{report.behind_bytes:,.0f} bytes of WAL: its {len(report.differences)} "
                     "difference(s) are replication lag, not drift (run again once it has "
                     "caught up)")
        return
    app.out.line(f"[bold]{escape(report.target)}[/]: "
                 + ("[green]in sync[/]" if report.in_sync
                    else f"[red]{len(report.differences)} difference(s)[/]")
                 + f" (expected schema of {len(report.versions)} applied migrations, "
                 f"from {escape(report.expected_from)})")
    for name in report.policy_partitions:
        app.out.line(f"  partition {escape(name)} follows the partition pattern: not drift")
    current = None
    for d in sorted(report.differences, key=lambda d: (d.object, d.kind, d.name)):
        if d.object != current:
            current = d.object
            app.out.line(f"  [bold]{escape(d.object)}[/]")
        app.out.line(f"    {d.change:<10} {d.kind} {escape(d.name)}")
        if d.change in ("different", "missing") and d.expected:
            app.out.line(f"      expected: {escape(_short(d.expected))}")
        if d.change in ("different", "unexpected", "renamed") and d.actual:
            app.out.line(f"      actual:   {escape(_short(d.actual))}")
        if d.name in report.unfixable:
            app.out.line(f"      [red]cannot be fixed by a script[/]: "
                         f"{escape(report.unfixable[d.name])}")


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 160 else flat[:157] + "..."
