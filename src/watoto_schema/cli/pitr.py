"""``pitr check|setup|base-backup|drill``: point-in-time recovery, proven (#11)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from .context import AppContext

pass_app = click.make_pass_decorator(AppContext)
_MARK = {"ok": "ok", "warning": "WARNING", "critical": "CRITICAL"}


@click.group()
def pitr() -> None:
    """Point-in-time recovery: judge WAL archiving, set it up, take base backups, and prove
    a restore to a point in time in a scratch server (see docs/pitr.md)."""


@pitr.command()
@click.option("--switch-wal", is_flag=True,
              help="Force pg_switch_wal() and wait until that segment is archived.")
@click.option("--timeout", type=click.FloatRange(min=0), default=60, show_default=True,
              metavar="S", help="Seconds to wait for the switched segment.")
@pass_app
def check(app: AppContext, switch_wal: bool, timeout: float) -> None:
    """Would point-in-time recovery work? wal_level, archive_mode, the archive command or
    library (and whether it is safe), pg_stat_archiver (exit 2 when recovery would not work).
    """
    from ..errors import EXIT_DIFFERENCES
    from ..pitr import check as run_check

    report = run_check(app.target(), switch_wal=switch_wal, timeout=timeout)
    app.out.document(report.as_dict())
    for f in report.findings:
        hint = f" ({f.hint})" if f.hint and f.status != "ok" else ""
        app.out.raw(f"{_MARK[f.status]:8} {f.check}: {f.message}{hint}\n")
    app.out.line("recovery would work" if report.recoverable
                 else "recovery would NOT work: see the CRITICAL lines")
    if not report.recoverable:
        raise click.exceptions.Exit(EXIT_DIFFERENCES)


@pitr.command()
@click.option("--archive-dir", required=True, metavar="DIR",
              help="Folder on the database host for archived WAL (absolute; the server's "
              "user must be able to write it).")
@click.option("--apply", is_flag=True,
              help="Run the statements (superuser) and reload the configuration.")
@pass_app
def setup(app: AppContext, archive_dir: str, apply: bool) -> None:
    """Print the ALTER SYSTEM statements of a safe setup (basic_archive, PostgreSQL 15+),
    saying which need a restart; --apply runs them and pg_reload_conf()."""
    from ..pitr import plan

    result = plan(app.target(), archive_dir, apply=apply)
    app.out.document(result.as_dict())
    if not result.statements:
        app.out.line("Archiving is already set up this way; nothing to change.")
        return
    for s in result.statements:
        app.out.raw(f"{s.sql};{'  -- needs a restart' if s.restart else ''}\n")
    app.out.raw("SELECT pg_reload_conf();\n")
    if apply:
        app.out.line(f"applied {len(result.statements)} statement(s) and reloaded"
                     + ("; RESTART the server for the rest" if result.restart_needed else ""))
    elif result.restart_needed:
        app.out.line("-- some settings need a server restart (pg_ctl restart)")


@pitr.command(name="base-backup")
@click.option("--to", "to", required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="A new (or empty) folder; never overwritten.")
@click.option("--format", "fmt", type=click.Choice(["tar", "plain"]), default="tar",
              show_default=True, help="pg_basebackup format.")
@click.option("--wal", type=click.Choice(["stream", "none"]), default="stream",
              show_default=True, help="stream: the backup carries the WAL it needs; none: "
              "the archive must have it.")
@pass_app
def base_backup(app: AppContext, to: Path, fmt: str, wal: str) -> None:
    """pg_basebackup of the target's server into DIR, with a manifest (watoto-backup.json:
    start LSN and time, server version)."""
    from ..pitr import base_backup as run_backup

    backup = run_backup(app.target(), to, fmt=fmt, wal=wal)
    app.out.document(backup.as_dict())
    app.out.line(f"base backup in {backup.directory} ({backup.format}, WAL {backup.wal}) in "
                 f"{backup.seconds:.2f}s; starts at {backup.start_lsn} ({backup.start_time})")


@pitr.command()
@click.option("--base-backup", "base", required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="A folder made by `pitr base-backup`.")
@click.option("--archive", required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="The WAL archive (readable by the server's user when run as root).")
@click.option("--target-time", required=True, metavar="T",
              help="Recover to this time (ISO 8601; UTC unless an offset is given).")
@click.option("--database", metavar="NAME",
              help="The database to check (default: the target's, else watoto).")
@click.option("--check-table", default="users", show_default=True, metavar="T",
              help="Table whose rows around the target time are checked.")
@click.option("--check-column", default="created_at", show_default=True, metavar="C",
              help="Its timestamp column.")
@click.option("--timeout", type=click.FloatRange(min=1), default=600, show_default=True,
              metavar="S", help="Seconds recovery may take.")
@pass_app
def drill(app: AppContext, base: Path, archive: Path, target_time: str, database: str | None,
          check_table: str, check_column: str, timeout: float) -> None:
    """Restore the base backup with the archived WAL to --target-time in a scratch server,
    check it (drift, row counts, no row after T and, given a target database, its latest row
    before T present), report the recovery time, then remove it (exit 2 when the check
    fails or recovery does not reach T, e.g. a missing WAL segment)."""
    from ..errors import EXIT_DIFFERENCES, BadConfig
    from ..pitr import drill as run_drill

    source = None
    with contextlib.suppress(BadConfig):  # none named: the rows after T are still checked
        source = app.target()
    if database is None:
        database = "watoto"
        if source is not None and source.conninfo:
            from psycopg.conninfo import conninfo_to_dict

            database = str(conninfo_to_dict(source.conninfo).get("dbname") or database)
    report = run_drill(base, archive, target_time, database=database, source=source,
                       check_table=check_table, check_column=check_column,
                       extra_dirs=app.extra_dirs, timeout=timeout, on_event=app.out.note)
    app.out.document(report.as_dict())
    app.out.line(f"recovered to {report.target_time} in {report.recovery_seconds:.2f}s "
                 f"(last WAL restored: {report.last_restored_wal})")
    app.out.line("schema: " + ("as migrated" if report.in_sync
                               else f"{len(report.differences)} difference(s)"))
    c = report.check
    app.out.line(f"{c['table']}.{c['column']}: latest before target {c['latest_before_target']}"
                 f", {c['rows_after_target']} row(s) after it"
                 + ("" if c["latest_present"] else
                    f"; MISSING the source's latest row before it ({c['source_latest']})"))
    app.out.table("rows", ["table", "rows"], [[t, str(n)] for t, n in report.row_counts.items()])
    app.out.line("drill passed" if report.ok else "drill FAILED")
    if not report.ok:
        raise click.exceptions.Exit(EXIT_DIFFERENCES)
