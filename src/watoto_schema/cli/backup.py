"""``backup create|list|verify|restore|prune``: pg_dump with a manifest, checked by restoring."""

from __future__ import annotations

from pathlib import Path

import click

from ..units import format_bytes
from .context import AppContext

pass_app = click.make_pass_decorator(AppContext)
_DIR = click.option("--dir", "directory", default="backups", show_default=True,
                    type=click.Path(file_okay=False, path_type=Path),
                    help="The folder backups are kept in, one sub-folder each.")
_PATH = click.argument("path", type=click.Path(path_type=Path))


@click.group()
def backup() -> None:
    """Backups: pg_dump plus a manifest (migrations, row counts, sha256 of every file),
    verified by a real restore, restored without a half-restored state.

    Each backup is a folder named by its UTC time and database under --dir (./backups).
    """


@backup.command()
@_DIR
@click.option("--format", "fmt", type=click.Choice(["custom", "directory"]), default="custom",
              show_default=True, help="pg_dump archive format.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Parallel pg_dump workers (directory format only).")
@pass_app
def create(app: AppContext, directory: Path, fmt: str, jobs: int) -> None:
    """Dump the database into a new backup folder and write its manifest.

    The row counts and migration history are read in the snapshot pg_dump dumps. The folder
    appears under its final name only once complete; an existing one is never overwritten
    (exit 3). The password reaches pg_dump through PGPASSWORD, never its command line.
    """
    from .. import backup as lib

    made = lib.create(app.target(), directory=directory, fmt=fmt, jobs=jobs,
                      on_event=app.out.note)
    m = made.manifest
    app.out.document({"path": str(made.path), "database": m["database"], "format": m["format"],
                      "bytes": m["bytes"], "tables": len(m["row_counts"]), "rows": m["rows"],
                      "migrations": len(m["migrations"]), "seconds": m["seconds"],
                      "dsn": m["dsn"]})
    app.out.line(f"backup {made.path}: {m['database']}, {len(m['migrations'])} migrations, "
                 f"{m['rows']} rows in {len(m['row_counts'])} tables, {format_bytes(m['bytes'])}, "
                 f"{m['seconds']:.2f}s")


@backup.command(name="list")
@_DIR
@pass_app
def list_(app: AppContext, directory: Path) -> None:
    """The backups under --dir, newest first: time, database, size, format, verified?"""
    from .. import backup as lib

    found = lib.list_backups(directory)
    app.out.document({"directory": str(directory), "backups": [b.as_dict() for b in found]})
    if not found:
        app.out.line(f"No backups in {directory}.")
        return
    verdict = {None: "not yet", True: "ok", False: "FAILED"}
    app.out.table(None, ["name", "time (UTC)", "database", "size", "format", "verified"],
                  [[b.path.name, b.created_at.strftime("%Y-%m-%d %H:%M:%S"), b.database,
                    format_bytes(b.bytes), b.format, verdict[b.verified_ok]] for b in found])


@backup.command()
@_PATH
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Parallel pg_restore workers.")
@pass_app
def verify(app: AppContext, path: Path, jobs: int) -> None:
    """Check the hashes, restore into a scratch database, compare schema and row counts
    (exit 2 on any difference).

    The scratch database is created on the target server (--dsn etc.), or in a throwaway
    embedded cluster when there is none or it refuses CREATE DATABASE, and dropped
    afterwards. The result is recorded in the backup's verified.json; the restore time is
    the recovery-time figure.
    """
    from .. import backup as lib
    from ..errors import EXIT_DIFFERENCES, BadConfig

    try:
        server = app.target()
    except BadConfig:
        server = None
    result = lib.verify(path, server, extra_dirs=app.extra_dirs, jobs=jobs,
                        on_event=app.out.note)
    app.out.document(result.as_dict())
    if result.restore_seconds is not None:
        app.out.line(f"restored {result.rows} rows in {result.tables} tables in "
                     f"{result.restore_seconds:.2f}s ({result.restored_on})")
    if result.ok:
        app.out.line(f"{path}: [green]verified[/]: hashes, schema (no drift) and row "
                     "counts match the manifest")
        return
    app.out.line(f"{path}: [red]{len(result.problems)} problem(s)[/]")
    for problem in result.problems:
        app.out.line(f"  {problem}")
    raise click.exceptions.Exit(EXIT_DIFFERENCES)


@backup.command()
@_PATH
@click.option("--to", "to", required=True, metavar="DSN", help="The database to restore into.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Parallel pg_restore workers.")
@click.option("--no-owner", is_flag=True,
              help="Restore without owners and grants (the source's roles do not exist here).")
@click.option("--yes", is_flag=True, help="Replace a database that is not empty.")
@pass_app
def restore(app: AppContext, path: Path, to: str, jobs: int, no_owner: bool, yes: bool) -> None:
    """Restore a backup into the --to database (created if it does not exist), replacing it
    only once complete.

    pg_restore writes into a staging database on the same server; its row counts are
    checked against the manifest, then it is renamed into place. A database that is not
    empty is refused (exit 3) without --yes; a damaged backup is refused (exit 2).
    """
    from .. import backup as lib

    done = lib.restore(path, app.other_target(to, "--to"), jobs=jobs, yes=yes,
                       keep_owners=not no_owner, on_event=app.out.note)
    app.out.document({"database": done.database, "seconds": done.seconds,
                      "tables": done.tables, "rows": done.rows, "replaced": done.replaced,
                      "created": done.created})
    verb = "replaced" if done.replaced else "created" if done.created else "restored"
    app.out.line(f"{verb} {done.database} from {path}: {done.rows} rows in {done.tables} "
                 f"tables, restore {done.seconds:.2f}s")


@backup.command()
@_DIR
@click.option("--keep-daily", type=click.IntRange(min=0), default=7, show_default=True,
              help="Keep the newest backup of each of this many most recent days.")
@click.option("--keep-weekly", type=click.IntRange(min=0), default=4, show_default=True,
              help="Keep the newest backup of each of this many most recent ISO weeks.")
@click.option("--yes", is_flag=True, help="Delete; without it, only say what would go.")
@pass_app
def prune(app: AppContext, directory: Path, keep_daily: int, keep_weekly: int,
          yes: bool) -> None:
    """Delete old backups, keeping daily and weekly ones (per database, UTC days), and the
    unfinished folders of runs that died.

    Dry by default: lists what would be deleted; --yes deletes it.
    """
    from .. import backup as lib

    pruned = lib.prune(directory, keep_daily=keep_daily, keep_weekly=keep_weekly, yes=yes,
                       on_event=app.out.note)
    decisions = pruned.decisions
    app.out.document({"dry_run": not yes, "backups": [
        {"name": d.backup.path.name, "keep": d.keep, "reason": d.reason} for d in decisions],
        "unfinished": [p.name for p in pruned.unfinished]})
    if not decisions and not pruned.unfinished:
        app.out.line(f"No backups in {directory}.")
        return
    gone = "deleted" if yes else "would delete"
    for d in decisions:
        app.out.line(f"{'keep' if d.keep else gone:<12} {d.backup.path.name} ({d.reason})")
    for path in pruned.unfinished:
        app.out.line(f"{gone:<12} {path.name} (unfinished: its run died)")
    if not yes and (pruned.unfinished or any(not d.keep for d in decisions)):
        app.out.line("Nothing deleted (dry run): --yes deletes.")
