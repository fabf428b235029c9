"""``partitions ensure|create|list|retire|render``: partition lifecycle from the policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..units import format_bytes
from .context import AppContext

pass_app = click.make_pass_decorator(AppContext)


def _policy(path: Path | None) -> Any:
    from ..partitions import load_policy

    return load_policy(path)


_POLICY = click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False,
                                                                    path_type=Path),
                       help="Partition policy file (default: the shipped sql/partitions.toml).")
_DRY = click.option("--dry-run", is_flag=True,
                    help="Print the statements and the locks they take; change nothing.")
_LOCK = click.option("--lock-timeout", default="3s", show_default=True, metavar="DURATION",
                     help="lock_timeout of each step; a step not granted its locks is retried.")


def _settings(lock_timeout: str) -> Any:
    from ..partitions import RunSettings
    from ..sources import duration

    return RunSettings(lock_timeout=duration(lock_timeout, "--lock-timeout"))


@click.group()
def partitions() -> None:
    """Create, premake, list and retire partitions per sql/partitions.toml (no extension)."""


@partitions.command()
@click.option("--table", "tables", multiple=True, help="Only this declared table (repeatable).")
@_POLICY
@_DRY
@_LOCK
@pass_app
def ensure(app: AppContext, tables: tuple[str, ...], policy_file: Path | None, dry_run: bool,
           lock_timeout: str) -> None:
    """Create missing partitions up to the premake horizon; safe to run from cron.

    Idempotent: a second run does nothing. Rows already sitting in DEFAULT inside a new
    partition's range are moved into it (verified by count and checksum). The parent is
    analyzed afterwards (autovacuum never analyzes a partitioned parent).
    """
    from .. import partitions as lib

    run = lib.ensure(app.writable_target(dry_run), policy=_policy(policy_file), tables=tables,
                     dry_run=dry_run, settings=_settings(lock_timeout))
    _render_run(app, run)


@partitions.command()
@click.option("--table", required=True, help="Any partitioned table.")
@click.option("--from", "lower", type=click.DateTime(["%Y-%m-%d"]), help="Range: first day.")
@click.option("--to", "upper", type=click.DateTime(["%Y-%m-%d"]), help="Range: end (exclusive).")
@click.option("--interval", type=click.Choice(["yearly", "monthly", "daily"]),
              help="Range: period of each partition (default: the policy's).")
@click.option("--modulus", type=click.IntRange(min=1), help="Hash: create every remainder.")
@_POLICY
@_DRY
@_LOCK
@pass_app
def create(app: AppContext, table: str, lower: Any, upper: Any, interval: str | None,
           modulus: int | None, policy_file: Path | None, dry_run: bool,
           lock_timeout: str) -> None:
    """Create an explicit set of partitions, e.g. back-filling past years."""
    from .. import partitions as lib

    run = lib.create(app.writable_target(dry_run), table,
                     lower=lower.date() if lower else None, upper=upper.date() if upper else None,
                     interval=interval, modulus=modulus, policy=_policy(policy_file),
                     dry_run=dry_run, settings=_settings(lock_timeout))
    _render_run(app, run)


@partitions.command(name="list")
@click.option("--table", "tables", multiple=True,
              help="Only this partitioned table (repeatable); an unknown name is an error.")
@_POLICY
@pass_app
def list_(app: AppContext, tables: tuple[str, ...], policy_file: Path | None) -> None:
    """Partitions with bounds, rows and size; per table the runway, DEFAULT rows, newest row.

    Warns (on stderr, and under "warnings" in --json) when a declared table's runway ends
    before its premake horizon or rows wait in DEFAULT: operational work for `partitions
    ensure`, not schema drift. The exit status stays 0.
    """
    from .. import partitions as lib

    reports = lib.list_partitions(app.target(), tables, policy=_policy(policy_file))
    app.out.document({"tables": [
        {"table": r.table, "strategy": r.strategy, "runway_until": r.runway_until,
         "runway_days": r.runway_days, "premake_until": r.premake_until,
         "default_rows": r.default_rows, "newest_row": r.newest_row, "warnings": r.warnings,
         "partitions": [{"name": p.name, "bound": p.bound, "estimated_rows": p.estimated_rows,
                         "bytes": p.bytes, "detach_pending": p.detach_pending}
                        for p in r.partitions]}
        for r in reports]})
    if not reports:
        app.out.line("No partitioned tables in this database.")
    for r in reports:
        facts = []
        if r.runway_until:
            facts.append(f"runway until {r.runway_until} ({r.runway_days} days)")
        if r.default_rows is not None:
            facts.append(f"{r.default_rows} row(s) in DEFAULT")
        if r.newest_row:
            facts.append(f"newest row {r.newest_row}")
        if r.strategy == "hash":
            counts = sorted(p.estimated_rows for p in r.partitions)
            if counts and counts[-1]:
                facts.append(f"balance min/max {counts[0]}/{counts[-1]} rows")
        app.out.table(f"{r.table} ({r.strategy}): " + "; ".join(facts),
                      ["partition", "bound", "est. rows", "size"],
                      [[p.name, p.bound, f"{p.estimated_rows:,}", format_bytes(p.bytes)]
                       for p in r.partitions])
        for warning in r.warnings:
            app.out.note(f"warning: {r.table}: {warning}")


@partitions.command()
@click.option("--table", required=True)
@click.option("--older-than", "older", required=True, metavar="AGE",
              help="Retire partitions wholly older than this, e.g. '10 years', '18 months'.")
@click.option("--detach", "mode", flag_value="detach", help="Detach them (keep the tables).")
@click.option("--drop", "mode", flag_value="drop", help="Detach and drop them (needs --yes).")
@click.option("--archive", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="pg_dump each partition into DIR before it goes.")
@click.option("--with-dependents", is_flag=True,
              help="Delete rows of other tables that reference the retired rows (archived "
              "to CSV first with --archive).")
@click.option("--yes", is_flag=True, help="Confirm dropping.")
@_DRY
@_LOCK
@pass_app
def retire(app: AppContext, table: str, older: str, mode: str | None, archive: Path | None,
           with_dependents: bool, yes: bool, dry_run: bool, lock_timeout: str) -> None:
    """Retention: detach (concurrently where allowed) or drop old partitions."""
    from .. import partitions as lib

    if mode is None:
        raise click.UsageError("give --detach or --drop")
    run = lib.retire(app.writable_target(dry_run), table, older=older, mode=mode,
                     archive=archive, yes=yes, dry_run=dry_run, with_dependents=with_dependents,
                     settings=_settings(lock_timeout))
    _render_run(app, run)


@partitions.command()
@click.argument("table")
@_POLICY
@pass_app
def render(app: AppContext, table: str, policy_file: Path | None) -> None:
    """Print the DDL of TABLE's initial partitions, as its migration carries it."""
    from .. import partitions as lib
    from ..errors import BadConfig

    policy = _policy(policy_file)
    if table not in policy:
        raise BadConfig(f"{table} is not in the partition policy")
    text = lib.render_initial(policy[table])
    app.out.document({"table": table, "sql": text})
    app.out.raw(text)


def _render_run(app: AppContext, run: Any) -> None:
    from dataclasses import asdict

    app.out.document({"dry_run": run.dry_run, "changed": run.changed,
                      "actions": [asdict(a) for a in run.actions]})
    if run.dry_run:
        for a in run.actions:
            app.out.raw(f"-- {a.what} {a.partition}: locks {a.locks}\n"
                        + "".join(s.rstrip() + "\n" for s in a.statements))
        return
    if not run.actions:
        app.out.line("Nothing to do.")
    for a in run.actions:
        moved = f", moved {a.rows_moved} row(s) out of DEFAULT" if a.rows_moved else ""
        note = f" ({a.note})" if a.note else ""
        app.out.line(f"{a.what} {a.partition}{moved}{note}")
