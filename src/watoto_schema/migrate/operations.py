"""The operations: migrate, rollback, repair, baseline, new."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import sources
from ..errors import (
    BadConfig,
    MigrationMissing,
    NotOnline,
    OnlineActive,
    Refused,
    WatotoError,
)
from ..sources import MigrationFile
from ..target import Target, connect
from .history import read_applied
from .model import (
    ONLINE_STATE,
    AppliedState,
    RunOptions,
    RunResult,
)
from .plan import _check_history, _script, _to_apply, _to_rollback
from .runner import (
    _Runner,
    migration_lock,
)

if TYPE_CHECKING:
    import psycopg

    from . import online

# -- the operations ----------------------------------------------------------------------

def migrate(target: Target, *, to: str | None = None, extra_dirs: Sequence[Path] = (),
            options: RunOptions | None = None, dry_run: bool = False,
            on_event: Callable[[str], None] | None = None) -> RunResult:
    """Apply pending migrations (up to and including ``to``), each on its own.

    Idempotent: a second run finds nothing to do. Concurrent runs serialise on the
    migration lock and apply each migration exactly once. Refuses (exit 3) when an
    applied migration's file was edited or is gone. ``dry_run`` reads only and returns
    the script in ``RunResult.sql``.
    """
    return _operate("apply", target, extra_dirs, options or RunOptions(), dry_run, on_event,
                    lambda files, applied: _to_apply(files, applied, to),
                    quick=to is None)


def _up_to_date(conn: psycopg.Connection[Any], extra_dirs: Sequence[Path]) -> bool:
    """The common case, nothing pending, found without parsing SQL or taking the lock.

    False when something may be pending (the full, locked run decides). Still refuses an
    edited or missing applied migration.
    """
    dirs = sources.migration_dirs(extra_dirs)
    applied = read_applied(conn)
    # Names first: with something pending the files are not read twice (the run reads them).
    if any(p.stem not in applied or applied[p.stem].state == "running"
           for p in sources.paths(dirs)):
        return False
    _check_history(sources.scan(dirs), applied)
    return True


def apply_versions(target: Target, versions: Sequence[str],
                   extra_dirs: Sequence[Path] = ()) -> RunResult:
    """Apply exactly ``versions`` (and nothing else) to a database, in dependency order.

    Used to build the expected schema of a database that has applied those versions.
    """
    wanted = set(versions)
    return _operate("apply", target, extra_dirs, RunOptions(online=False), False, None,
                    lambda files, applied: [f for f in files
                                            if f.version in wanted and f.version not in applied])


def rollback(target: Target, *, to: str | None = None, steps: int | None = None,
             everything: bool = False, extra_dirs: Sequence[Path] = (),
             options: RunOptions | None = None, dry_run: bool = False,
             on_event: Callable[[str], None] | None = None) -> RunResult:
    """Roll back applied migrations, newest first, each on its own.

    Exactly one of ``to`` (keep that version and what it depends on), ``steps`` (the last
    N applied) or ``everything`` selects what goes.
    """
    if sum((to is not None, steps is not None, everything)) != 1:
        raise BadConfig("rollback needs exactly one of --to VERSION, --steps N, --all")
    return _operate("rollback", target, extra_dirs, options or RunOptions(), dry_run, on_event,
                    lambda files, applied: _to_rollback(files, applied, to, steps))


def _operate(direction: str, target: Target, extra_dirs: Sequence[Path], options: RunOptions,
             dry_run: bool, on_event: Callable[[str], None] | None,
             select: Callable[[list[MigrationFile], dict[str, AppliedState]],
                              list[MigrationFile]], quick: bool = False) -> RunResult:
    started = time.monotonic()
    result = RunResult(direction, target.display)
    quick = quick and not options.complete
    runner = _Runner(target, options, on_event) if quick and not dry_run else None
    try:
        if runner is not None and _up_to_date(runner.conn, extra_dirs):
            result.seconds = time.monotonic() - started
            return result
        files = sources.read(sources.migration_dirs(extra_dirs))
        if dry_run:
            with connect(target) as conn:
                applied = read_applied(conn)
                _check_history(files, applied)
                if _online_dry_run(conn, target, direction, options, result):
                    result.seconds = time.monotonic() - started
                    return result
                todo = select(files, applied)
                if options.before_apply is not None:
                    options.before_apply(files, todo)
                result.sql = _script(target, todo, direction, options, conn, applied)
            result.done = [m.version for m in todo]
            result.seconds = time.monotonic() - started
            return result
        runner = runner or _Runner(target, options, on_event)
        with migration_lock(runner.conn, options.lock_wait):
            in_progress = _online_in_progress(runner.conn) if options.online else None
            if options.before_apply is not None:  # before bootstrap: a refusal creates nothing
                applied = read_applied(runner.conn)
                _check_history(files, applied)
                # an online migration in progress was linted when it started; a run that
                # carries it on applies nothing else, but after finishing a contract
                lint = [] if in_progress is not None and (
                    options.complete or in_progress.phase != "completing") else [
                    m for m in select(files, applied)
                    if in_progress is None or m.version != in_progress.version]
                options.before_apply(files, lint)
            runner.bootstrap()
            applied = read_applied(runner.conn)
            _check_history(files, applied)
            ended, changed = _carry_on_online(runner, files, direction, options, result,
                                              in_progress)
            if changed:
                applied = read_applied(runner.conn)
            todo = [] if ended else select(files, applied)
            if direction == "apply" and options.online:
                _refuse_offline(todo, options)
            for index, m in enumerate(todo):
                if direction == "apply" and m.online and options.online:
                    if _expand(runner, files, applied, m, options, result, todo[index + 1:]):
                        break
                    continue
                resume = applied[m.version].statements_done if (
                    direction == "apply" and m.version in applied) else 0
                runner.run(m, direction, resume)
                result.done.append(m.version)
                if options.after_each is not None:
                    options.after_each(runner.conn, m.version)
    finally:
        if runner is not None:
            runner.close()
    result.retries = runner.retries
    result.seconds = time.monotonic() - started
    return result


def _online_dry_run(conn: psycopg.Connection[Any], target: Target, direction: str,
                    options: RunOptions, result: RunResult) -> bool:
    """The dry run of a run that carries on an online migration in progress: the steps it
    has left (True), or False when none is in progress."""
    from . import online

    state = online.active(conn)
    if state is None:
        if options.complete:
            raise WatotoError("--complete: no online migration is active on this database "
                              "(see `status`)")
        return False
    phase = ("aborting" if direction == "rollback" or state.phase == "aborting" else
             "completing" if state.phase == "completing" or (
                 state.phase == "active" and options.complete) else state.phase)
    key = {"expanding": "expand", "completing": "contract", "aborting": "abort"}
    out = [f"-- watoto-schema {'rollback' if direction == 'rollback' else 'migrate'} --dry-run",
           f"-- target: {target.display}",
           f"-- online migration {state.version} is {state.phase} (step {state.step})"]
    if phase == "active":
        out.append("-- nothing to run: it is active; `migrate --complete` contracts it, "
                   "`rollback --steps 1` aborts it")
    else:
        steps = state.plan[key[phase]]
        first = state.step if phase == state.phase else 0
        out.append(f"-- {key[phase]} steps {first + 1}..{len(steps)}:")
        for step in steps[first:]:
            out.append(f"{step['sql']};  -- {step['kind']}: {step['what']}"
                       if step["kind"] != "backfill" else
                       f"-- backfill {state.plan['backfills'][int(step['sql'])]['table']}")
    result.sql = "\n".join(out) + "\n"
    result.done = [] if phase in ("active", "expanding") else [state.version]
    return True


def _refuse_offline(todo: Sequence[MigrationFile], options: RunOptions) -> None:
    """Refuse, before anything runs, an online migration with a statement that has no
    online form (judged from its SQL; the catalog is consulted when its turn comes)."""
    if not any(m.online for m in todo):
        return
    from . import online

    for m in todo:
        if not m.online:
            continue
        for statement, why in online.check_supported(m):
            if why is not None and not options.allow_unsafe:
                raise NotOnline(m.version, statement, why)


def _expand(runner: _Runner, files: Sequence[MigrationFile], applied: dict[str, AppliedState],
            m: MigrationFile, options: RunOptions, result: RunResult,
            later: Sequence[MigrationFile]) -> bool:
    """Expand online migration ``m``; True when the run stops there (later ones wait)."""
    from . import online

    if options.allow_unsafe and any(why for _, why in online.check_supported(m)):
        runner.on_event(f"{m.version}: not all of it can run online; running it as one "
                        "transaction (--allow-unsafe)")
        runner.run(m, "apply")
        result.done.append(m.version)
        return False
    online.ensure_tables(runner.conn)
    before = list(applied)  # in the order they were applied
    try:
        state = online.expand(runner, m, options, before[-1] if before else "base",
                              runner.on_event)
    except NotOnline:
        if not options.allow_unsafe or online.active(runner.conn) is not None:
            raise
        runner.on_event(f"{m.version}: cannot run online; running it as one transaction "
                        "(--allow-unsafe)")
        runner.run(m, "apply")
        result.done.append(m.version)
        return False
    result.online = state
    if later:
        runner.on_event(f"{len(later)} later migration(s) wait until {m.version} is completed "
                        "(`migrate --complete`)")
    return True


def _online_in_progress(conn: psycopg.Connection[Any]) -> online.OnlineState | None:
    """``online.active``, the online engine imported only when its state table exists."""
    row = conn.execute("SELECT to_regclass(%s)", (ONLINE_STATE,)).fetchone()
    if row is None or row[0] is None:
        return None
    from . import online

    return online.active(conn)


def _carry_on_online(runner: _Runner, files: Sequence[MigrationFile], direction: str,
                     options: RunOptions, result: RunResult,
                     state: online.OnlineState | None) -> tuple[bool, bool]:
    """Carry on with the online migration in progress, ``state``: (the run ends there,
    something was recorded as applied)."""
    if state is None:
        if options.complete:
            raise WatotoError("--complete: no online migration is active on this database "
                              "(see `status`)")
        return False, False
    from . import online

    m = next((f for f in files if f.version == state.version), None)
    if m is None:
        raise MigrationMissing(state.version)
    if direction == "rollback":
        online.abort(runner, state, options, runner.on_event)
        result.done.append(state.version)
        return True, False
    if m.checksum != state.checksum and state.phase != "aborting":
        raise Refused(f"{state.version} was edited after its online migration started "
                      f"({m.path}); nothing was run: restore the file to carry on, or abort "
                      "it with `rollback --steps 1` (the abort follows the plan it started "
                      "with)")
    if state.phase == "expanding":
        result.online = online.expand(runner, m, options, "", runner.on_event)
        return True, False
    if state.phase == "aborting":
        online.abort(runner, state, options, runner.on_event)
        result.aborted = state.version
        return True, False
    if state.phase == "active" and not options.complete:
        applied = read_applied(runner.conn)
        waiting = [f.version for f in files if f.version not in applied
                   and f.version != state.version]
        if waiting:
            raise OnlineActive(
                f"{state.version} is active (both versions served): {len(waiting)} later "
                f"migration(s) wait ({waiting[0]} first); complete it with `migrate "
                "--complete`, or abort it with `rollback --steps 1`")
        result.online = state
        return True, False
    online.complete(runner, m, state, options, runner.on_event)
    result.done.append(state.version)
    if options.after_each is not None:  # replica waits, cache invalidation: the new shape
        options.after_each(runner.conn, state.version)
    return options.complete, True


def repair(target: Target, *, extra_dirs: Sequence[Path] = (),
           options: RunOptions | None = None) -> RunResult:
    """Re-record the checksums of applied migrations whose files changed (after review).

    Also records checksums for migrations applied before checksums were kept. Does not
    touch partial migrations (``migrate`` resumes them) or missing files.
    """
    options = options or RunOptions()
    started = time.monotonic()
    files = sources.read(sources.migration_dirs(extra_dirs))
    result = RunResult("repair", target.display)
    runner = _Runner(target, options, None)
    try:
        with migration_lock(runner.conn, options.lock_wait):
            runner.bootstrap()
            applied = read_applied(runner.conn)
            with runner.conn.transaction():
                for f in files:
                    record = applied.get(f.version)
                    if record is None or record.state != "applied":
                        continue
                    if (record.checksum, record.rollback_checksum) != (f.checksum,
                                                                       f.rollback_checksum):
                        runner._history(f, "applied", f.statement_count)
                        result.done.append(f.version)
    finally:
        runner.close()
    result.seconds = time.monotonic() - started
    return result


def baseline(target: Target, *, to: str | None = None, extra_dirs: Sequence[Path] = (),
             options: RunOptions | None = None) -> RunResult:
    """Adopt a database built by hand: record migrations as applied without running them.

    Only on a database this tool has not migrated yet, and only after checking that every
    object the migrations create (tables, indexes, views, functions, triggers, constraints,
    sequences) is present; otherwise refuses (exit 3) naming what is missing.
    """
    from .. import objects

    options = options or RunOptions()
    started = time.monotonic()
    files = sources.read(sources.migration_dirs(extra_dirs))
    chosen = _to_apply(files, {}, to)
    result = RunResult("baseline", target.display)
    runner = _Runner(target, options, None)
    try:
        with migration_lock(runner.conn, options.lock_wait):
            if read_applied(runner.conn):
                raise Refused("this database already has applied migrations: baseline is only "
                              "for a database no migration tool has run on (see `status`)")
            missing = objects.missing(runner.conn, [s for f in chosen for s in f.statements])
            if missing:
                more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
                raise Refused("not baselined, objects the migrations create are missing: "
                              + ", ".join(missing[:5]) + more)
            runner.bootstrap()
            with runner.conn.transaction():
                for f in chosen:
                    runner.conn.execute(runner._record_sql(f, "apply", None))
                    result.done.append(f.version)
    finally:
        runner.close()
    result.seconds = time.monotonic() - started
    return result


def new(name: str, folder: Path, extra_dirs: Sequence[Path] = (), *,
        transactional: bool = True) -> list[Path]:
    """Write the next numbered migration and its rollback into ``folder`` from templates."""
    import re

    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from ..resources import data_dir

    if not re.fullmatch(r"[a-z][a-z0-9_]{0,60}", name):
        raise BadConfig(f"migration name {name!r}: use lower-case letters, digits and _")
    dirs = sources.migration_dirs(extra_dirs)
    if folder.resolve() not in [d.resolve() for d in dirs]:
        dirs.append(folder)
    files = sources.read(dirs) if folder.is_dir() else sources.read(dirs[:-1])
    numbers = [int(f.version.split("_", 1)[0]) for f in files
               if f.version.split("_", 1)[0].isdigit()]
    version = f"{max(numbers, default=0) + 1:04d}_{name}"
    depended = {d for f in files for d in f.depends}
    heads = [f.version for f in files if f.version not in depended]
    env = Environment(loader=FileSystemLoader(data_dir("sql") / "templates"),
                      undefined=StrictUndefined, keep_trailing_newline=True)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for template, suffix in (("migration.sql.j2", ".sql"), ("rollback.sql.j2", ".rollback.sql")):
        path = folder / f"{version}{suffix}"
        if path.exists():
            raise Refused(f"{path} already exists")
        path.write_text(env.get_template(template).render(
            version=version, depends=heads, transactional=transactional))
        written.append(path)
    return written
