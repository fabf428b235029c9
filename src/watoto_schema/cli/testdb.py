"""``testdb provision|list|drop|gc``: migrated test databases for CI, cloned from a template."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from .context import AppContext

if TYPE_CHECKING:
    from ..provision import Dropped

pass_app = click.make_pass_decorator(AppContext)
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|min|h|d)\s*$")


def _duration(value: str, option: str) -> timedelta:
    from ..errors import BadConfig

    match = _DURATION.match(value)
    if not match:
        raise BadConfig(f"{option} {value!r}: use e.g. 90s, 30m, 2h, 1d")
    n, unit = int(match.group(1)), match.group(2)
    return timedelta(seconds=n * {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}[unit])


@click.group()
def testdb() -> None:
    """Hand out migrated test databases for CI, cloned from a sealed template.

    The target database is only the maintenance database the clones are created from
    (e.g. `postgres`); every provisioner of one server must use the same one.
    """


@testdb.command()
@click.option("--count", type=int, default=1, show_default=True,
              help="How many clones (1-500).")
@click.option("--students", type=int, default=0, show_default=True,
              help="Sample-data students in the template (each value is its own template).")
@click.option("--seed", type=int, default=7, show_default=True, help="Sample-data seed.")
@click.option("--prefix", metavar="P",
              help="Name the clones P_1..P_N (default: watoto_test_<random>_N); an existing "
              "name is an error.")
@click.option("--strategy", type=click.Choice(["wal_log", "file_copy"]),
              help="CREATE DATABASE strategy (default: the one measured faster for this "
              "template when it was built).")
@click.option("--lease", default="2h", show_default=True, metavar="DURATION",
              help="How long the clones are yours; `testdb gc` drops them after that.")
@click.option("--session", metavar="ID", help="A label for the owner (e.g. a CI job name).")
@pass_app
def provision(app: AppContext, count: int, students: int, seed: int, prefix: str | None,
              strategy: str | None, lease: str, session: str | None) -> None:
    """Ensure the template for the migrations, then create clones and print their DSNs.

    The template is built once per set of migration files, policy, tool version, server
    version and data options (concurrent runs wait for one builder), then sealed. The
    DSNs carry no password: libpq takes it from PGPASSWORD or the password file.
    """
    from .. import provision as lib

    result = lib.provision(app.writable_target(), count=count,
                           data=lib.DataOptions(students=students, seed=seed), prefix=prefix,
                           strategy=strategy, extra_dirs=app.extra_dirs,
                           lease=_duration(lease, "--lease"), session=session,
                           on_event=app.out.note)
    app.out.document({
        "template": result.template.name, "template_built": result.template.built,
        "strategy": result.template.strategy, "seconds": round(result.seconds, 3),
        "databases": [{"name": c.name, "dsn": c.dsn, "strategy": c.strategy,
                       "milliseconds": c.milliseconds, "lease_until": c.lease_until}
                      for c in result.clones]})
    verb = "built" if result.template.built else "reused"
    app.out.line(f"template {result.template.name} ({verb}); {len(result.clones)} "
                 f"database(s) in {result.seconds:.2f}s:")
    for c in result.clones:
        app.out.line(f"{c.name}\t{c.dsn}")


@testdb.command(name="list")
@pass_app
def list_(app: AppContext) -> None:
    """Templates (key, size, age, current or stale) and clones (owner, age, lease)."""
    from datetime import UTC, datetime

    from .. import provision as lib

    inv = lib.list_all(app.target(), extra_dirs=app.extra_dirs)
    now = datetime.now(UTC)

    def age(text: Any) -> str:
        try:
            seconds = (now - datetime.fromisoformat(str(text))).total_seconds()
        except ValueError:
            return "?"
        return f"{seconds / 3600:.1f}h" if seconds >= 3600 else f"{seconds / 60:.0f}m"

    templates: list[dict[str, Any]] = [{"name": t.name, "key": t.label.get("key"), "bytes": t.bytes,
                  "built_at": t.label.get("built_at"), "students": t.label.get("students"),
                  "strategy": t.label.get("strategy"), "current": t.name in inv.current}
                 for t in inv.templates]
    clones: list[dict[str, Any]] = [
        {"name": c.name, "template": c.label.get("template"), "bytes": c.bytes,
         "owner": c.label.get("owner"), "created_at": c.label.get("created_at"),
         "lease_until": c.label.get("lease_until")} for c in inv.clones]
    builds: list[dict[str, Any]] = [{"name": b.name, "started_at": b.label.get("started_at"),
               "host": b.label.get("host"), "pid": b.label.get("pid")} for b in inv.builds]
    app.out.document({"templates": templates, "clones": clones, "builds": builds})
    if not (templates or clones or builds):
        app.out.line("No test databases on this server.")
        return
    if templates:
        app.out.table("templates", ["name", "students", "size", "age", "state"],
                      [[t["name"], str(t["students"]), f"{t['bytes'] / 1e6:.1f} MB",
                        age(t["built_at"]), "current" if t["current"] else "stale"]
                       for t in templates])
    if clones:
        app.out.table("clones", ["name", "owner", "age", "lease until"],
                      [[c["name"], _owner(c["owner"]), age(c["created_at"]),
                        str(c["lease_until"])[:19]] for c in clones])
    for b in builds:
        app.out.line(f"build in progress or abandoned: {b['name']} (pid {b['pid']} on "
                     f"{b['host']})")


def _owner(owner: Any) -> str:
    if not isinstance(owner, dict):
        return "?"
    text = f"{owner.get('user')}@{owner.get('host')} pid {owner.get('pid')}"
    if owner.get("session"):
        text += f" {owner['session']}"
    if owner.get("ci_job"):
        text += f" job {owner['ci_job']}"
    return text


@testdb.command()
@click.argument("names", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every clone on this server.")
@click.option("--yes", is_flag=True, help="Confirm --all.")
@pass_app
def drop(app: AppContext, names: tuple[str, ...], everything: bool, yes: bool) -> None:
    """Drop test databases by name (clones or templates), or every clone with --all --yes.

    Only databases testdb made are dropped; any other name is an error.
    """
    from .. import provision as lib

    _render_dropped(app, lib.drop(app.writable_target(), names, everything=everything, yes=yes,
                                  extra_dirs=app.extra_dirs), dry_run=False)


@testdb.command()
@click.option("--older-than", "older", metavar="DURATION",
              help="Also drop clones created longer ago than this (e.g. 2h).")
@click.option("--keep", type=click.IntRange(min=0), default=3, show_default=True,
              help="Stale templates to keep, newest first.")
@click.option("--dry-run", is_flag=True, help="Say what would be dropped; drop nothing.")
@pass_app
def gc(app: AppContext, older: str | None, keep: int, dry_run: bool) -> None:
    """Drop leftovers: clones whose lease ran out or whose owner process is gone, builds
    whose builder died, and stale templates beyond the newest --keep."""
    from .. import provision as lib

    older_than = _duration(older, "--older-than") if older else None
    _render_dropped(app, lib.gc(app.writable_target(dry_run), older_than=older_than, keep=keep,
                                extra_dirs=app.extra_dirs, dry_run=dry_run), dry_run)


def _render_dropped(app: AppContext, dropped: list[Dropped], dry_run: bool) -> None:
    app.out.document({"dry_run": dry_run, "dropped": [
        {"name": d.name, "kind": d.kind, "reason": d.reason} for d in dropped]})
    if not dropped:
        app.out.line("Nothing to drop.")
    verb = "would drop" if dry_run else "dropped"
    for d in dropped:
        app.out.line(f"{verb} {d.kind} {d.name} ({d.reason})")
