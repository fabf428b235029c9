"""``testdb provision|list|drop|gc|pool|take|give-back``: migrated test databases for CI,
cloned from a template, and a pool of ready ones."""

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


# -- a pool of ready clones for suites in any language ----------------------------------------

_POOL_OPTION = click.option("--pool", "pool_name", default="default", show_default=True,
                            metavar="NAME", help="Which pool (one per project or job kind).")


@testdb.command()
@click.option("--size", type=int, default=4, show_default=True,
              help="Ready clones to keep (1-100, within the server's free connections).")
@_POOL_OPTION
@click.option("--students", type=int, default=0, show_default=True,
              help="Sample-data students in the template.")
@click.option("--seed", type=int, default=7, show_default=True, help="Sample-data seed.")
@click.option("--lease", default="2h", show_default=True, metavar="DURATION",
              help="Lease of each ready clone; `testdb gc` drops it after that.")
@click.option("--watch", is_flag=True,
              help="Keep the pool full until interrupted (refilled as clones are taken; a "
              "template change drains it); the ready clones are dropped on exit.")
@pass_app
def pool(app: AppContext, size: int, pool_name: str, students: int, seed: int, lease: str,
         watch: bool) -> None:
    """Keep ready clones of the template on the server for `testdb take`.

    Without --watch: fill the pool to --size and exit. Any process (a Node or Go suite,
    a CI step) then takes a database with `testdb take` in milliseconds and gives it back
    with `testdb give-back`.
    """
    import signal

    from .. import provision as lib
    from ..provision import ready

    data = lib.DataOptions(students=students, seed=seed)
    duration = _duration(lease, "--lease")
    if not watch:
        state = ready.fill(app.writable_target(), size=size, pool=pool_name, data=data,
                           extra_dirs=app.extra_dirs, lease=duration, on_event=app.out.note)
    else:
        stop: list[int] = []

        def interrupted(signum: int, frame: Any) -> None:
            stop.append(signum)

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, interrupted)
        state = ready.watch(app.writable_target(), size=size, pool=pool_name, data=data,
                            extra_dirs=app.extra_dirs, lease=duration, recheck=1.0,
                            on_event=app.out.note, until=lambda: bool(stop))
    app.out.document({"pool": state.pool, "template": state.template, "ready": state.ready,
                      "made": state.made, "drained": state.drained, "watched": watch})
    if watch:
        app.out.line(f"pool {state.pool}: stopped; its ready clones were dropped")
    else:
        app.out.line(f"pool {state.pool}: {len(state.ready)} ready clone(s) of "
                     f"{state.template} ({len(state.made)} made, {len(state.drained)} "
                     "drained)")


@testdb.command()
@_POOL_OPTION
@click.option("--students", type=int, default=0, show_default=True,
              help="Sample-data students in the template.")
@click.option("--seed", type=int, default=7, show_default=True, help="Sample-data seed.")
@click.option("--lease", default="2h", show_default=True, metavar="DURATION",
              help="How long the database is yours; `testdb gc` drops it after that.")
@click.option("--session", metavar="ID", help="A label for the owner (e.g. a CI job name).")
@pass_app
def take(app: AppContext, pool_name: str, students: int, seed: int, lease: str,
         session: str | None) -> None:
    """Take a ready database from the pool (or clone one now if none is ready); print
    its name and DSN (no password: libpq takes it from PGPASSWORD)."""
    from .. import provision as lib
    from ..provision import ready

    clone, pooled = ready.take(app.writable_target(), pool=pool_name,
                               data=lib.DataOptions(students=students, seed=seed),
                               extra_dirs=app.extra_dirs, lease=_duration(lease, "--lease"),
                               session=session)
    app.out.document({"name": clone.name, "dsn": clone.dsn, "template": clone.template,
                      "from_pool": pooled, "milliseconds": clone.milliseconds,
                      "lease_until": clone.lease_until})
    app.out.line(f"{clone.name}\t{clone.dsn}")


@testdb.command(name="give-back")
@click.argument("names", nargs=-1)
@pass_app
def give_back(app: AppContext, names: tuple[str, ...]) -> None:
    """Give databases from `testdb take` back: they are dropped (only clones testdb made;
    any other name is an error and nothing is dropped)."""
    from ..provision import ready

    dropped = ready.give_back(app.writable_target(), names)
    app.out.document({"dropped": dropped})
    for name in dropped:
        app.out.line(f"dropped {name}")
