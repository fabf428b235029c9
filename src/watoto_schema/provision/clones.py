"""Test databases cloned from a sealed template, each labelled with its owner and lease.

``provision`` hands out clones (``CREATE DATABASE .. TEMPLATE .. STRATEGY``), ``list_all``
shows templates and clones, ``drop`` and ``gc`` remove them. Every clone's comment is a JSON
label: the template it came from, its owner (host, pid, user, pytest session, CI job) and
a lease. ``gc`` drops clones whose lease ran out or whose owner process is gone, builds
nobody is running any more, and templates that are no longer current.
"""

from __future__ import annotations

import getpass
import os
import re
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadConfig, Refused
from ..target import Target, connect, one_line
from .template import (
    BUILD_INFIX,
    LOCK_CLASS,
    STRATEGIES,
    DataOptions,
    ManagedDatabase,
    ProvisionError,
    Template,
    _label,
    conninfo_for,
    drop_database,
    ensure_template,
    managed_databases,
    next_strategy,
    record_use,
    schema_fingerprint,
    template_key,
)

if TYPE_CHECKING:
    import psycopg

MAX_COUNT = 500
DEFAULT_LEASE = timedelta(hours=2)
DEFAULT_PREFIX = "watoto_test"
TEMPLATE_IDLE = timedelta(hours=1)
_PREFIX = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
_APP = "watoto-schema testdb"
# CI systems' job identifiers, recorded as the clone's owner.
_CI_VARS = ("WATOTO_CI_JOB", "CI_JOB_ID", "GITHUB_RUN_ID", "BUILD_ID", "BUILDKITE_JOB_ID",
            "CIRCLE_WORKFLOW_JOB_ID")


@dataclass
class Clone:
    name: str
    dsn: str  # no password: libpq takes it from PGPASSWORD or the password file
    template: str
    strategy: str | None
    milliseconds: float
    lease_until: datetime


@dataclass
class ProvisionResult:
    template: Template
    clones: list[Clone]
    seconds: float
    verified: bool  # the first clone was checked against the files and the template's label


def owner(session: str | None = None, *, bound: bool = False) -> dict[str, Any]:
    """Who a clone belongs to: this host and process, and the CI job or test session.

    ``bound``: the clone lives no longer than this process (a pytest run), so ``gc`` may
    drop it once the process is gone; a CLI's clones outlive it and go by their lease.
    """
    ci_job = next((os.environ[v] for v in _CI_VARS if os.environ.get(v)), None)
    try:
        user = getpass.getuser()
    except Exception:  # no name for this uid (containers): the uid will do
        user = str(os.getuid())
    return {"host": socket.gethostname(), "pid": os.getpid(), "user": user,
            "session": session, "ci_job": ci_job, "bound": bound}


def _strip_password(conninfo: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(conninfo)
    params.pop("password", None)
    return make_conninfo("", **params)


def _require_createdb(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute("SELECT rolcreatedb OR rolsuper, current_user FROM pg_roles "
                       "WHERE rolname = current_user").fetchone()
    if not row or not row[0]:
        who = row[1] if row else "this role"
        raise ProvisionError(f"role {who} may not create databases: grant it CREATEDB "
                             "(ALTER ROLE ... CREATEDB) or use another role")


def _blockers(conn: psycopg.Connection[Any], template: str) -> str:
    rows = conn.execute(
        "SELECT pid, coalesce(nullif(application_name, ''), '?'), "
        "coalesce(host(client_addr), 'local'), usename FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()", (template,)).fetchall()
    if not rows:
        return "sessions that have gone since"
    return ", ".join(f"pid {pid} ({app}, {user}@{client})" for pid, app, client, user in rows)


def clone_names(count: int, prefix: str | None) -> list[str]:
    """Names for ``count`` clones: ``prefix_1..N`` when a prefix is given, else unique."""
    if prefix is None:
        token = secrets.token_hex(4)
        return [f"{DEFAULT_PREFIX}_{token}_{i}" for i in range(1, count + 1)]
    if not _PREFIX.match(prefix):
        raise BadConfig(f"--prefix {prefix!r}: use lower-case letters, digits and _ "
                        "(at most 40, not starting with a digit)")
    return [f"{prefix}_{i}" for i in range(1, count + 1)]


def provision(target: Target, *, count: int = 1, data: DataOptions | None = None,
              prefix: str | None = None, strategy: str | None = None,
              extra_dirs: Sequence[Path] = (), lease: timedelta = DEFAULT_LEASE,
              session: str | None = None, bound_to_process: bool = False, verify: bool = True,
              on_event: Callable[[str], None] | None = None) -> ProvisionResult:
    """Ensure the template, then create ``count`` clones of it and return their DSNs.

    Names are unique (a random token) unless ``prefix`` is given; then they are
    ``prefix_1..N`` and an existing one is an error before anything is created. With
    ``verify``, the first clone's schema fingerprint and migration checksums are compared
    with the template's label and the files: a template edited after it was sealed is
    dropped and rebuilt. On any failure the clones made so far are dropped.
    """
    data = data or DataOptions()
    if not 1 <= count <= MAX_COUNT:
        raise BadConfig(f"--count must be between 1 and {MAX_COUNT} (got {count})")
    if strategy is not None and strategy not in STRATEGIES:
        raise BadConfig(f"--strategy must be one of {', '.join(STRATEGIES)}")
    if data.students < 0:
        raise BadConfig(f"--students must be 0 or more (got {data.students})")
    names = clone_names(count, prefix)
    began = time.perf_counter()
    with connect(target, application_name=_APP) as conn:
        _require_createdb(conn)
        taken = [str(r[0]) for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname = ANY(%s)", (names,)).fetchall()]
        if taken:
            raise BadConfig(f"database(s) already exist: {', '.join(taken)}; nothing was "
                            "created (drop them with `testdb drop`, or use another --prefix)")
        template = ensure_template(target, conn, extra_dirs=extra_dirs, data=data,
                                   on_event=on_event)
        verified = False
        made: list[Clone] = []
        try:
            for index, name in enumerate(names):
                made.append(_clone(target, conn, template, name, strategy, lease,
                                   owner(session, bound=bound_to_process)))
                if index == 0 and verify and not template.built:
                    problem = _verify(target, made[0], template, extra_dirs)
                    if problem:
                        if on_event:
                            on_event(f"template {template.name} {problem}: rebuilding it")
                        drop_database(conn, made.pop().name)
                        drop_database(conn, template.name)
                        template = ensure_template(target, conn, extra_dirs=extra_dirs,
                                                   data=data, on_event=on_event)
                        made.append(_clone(target, conn, template, name, strategy, lease,
                                           owner(session, bound=bound_to_process)))
                    verified = True
                if not strategy and not template.strategy:  # still timing the strategies
                    record_use(conn, template, made[-1].strategy, made[-1].milliseconds)
            record_use(conn, template, None, None)
        except BaseException:
            for clone in made:
                try:
                    drop_database(conn, clone.name)
                except Exception:  # noqa: S112 - the first failure is the one to report
                    continue
            raise
    return ProvisionResult(template, made, time.perf_counter() - began, verified)


def add_clone(target: Target, conn: psycopg.Connection[Any], template: Template, *,
              session: str | None = None, bound_to_process: bool = False,
              lease: timedelta = DEFAULT_LEASE) -> Clone:
    """One more clone of a template this process already has (found, verified) in hand.

    The fast path of the pytest plugin: one CREATE DATABASE and one COMMENT on a kept
    connection, no key computation and no template lookup."""
    [name] = clone_names(1, None)
    clone = _clone(target, conn, template, name, None, lease,
                   owner(session, bound=bound_to_process))
    if not template.strategy:
        record_use(conn, template, clone.strategy, clone.milliseconds)
    return clone


def _clone(target: Target, conn: psycopg.Connection[Any], template: Template, name: str,
           strategy: str | None, lease: timedelta, who: dict[str, Any],
           extra: dict[str, Any] | None = None) -> Clone:
    import psycopg
    from psycopg import sql

    chosen = strategy or next_strategy(template)
    stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                            sql.Identifier(template.name))
    if chosen:
        stmt = sql.SQL("{} STRATEGY {}").format(stmt, sql.SQL(chosen))
    began = time.perf_counter()
    try:
        conn.execute(stmt)
    except psycopg.errors.ObjectInUse as exc:  # 55006: someone is connected to the template
        raise ProvisionError(f"cannot clone {template.name}: it is being accessed by "
                             f"{_blockers(conn, template.name)}") from exc
    except psycopg.errors.DuplicateDatabase as exc:
        raise BadConfig(f"database {name} already exists (created meanwhile by someone "
                        "else); nothing of this call was kept") from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ProvisionError(f"cannot create database {name}: {one_line(exc)}") from exc
    milliseconds = (time.perf_counter() - began) * 1000
    now = datetime.now(UTC)
    until = now + lease
    try:
        _label(conn, name, {"kind": "watoto-clone", "template": template.name,
                            "key": template.key.digest, "owner": who,
                            "created_at": now.isoformat(), "lease_until": until.isoformat(),
                            **(extra or {})})
    except BaseException:
        drop_database(conn, name)
        raise
    return Clone(name, _strip_password(conninfo_for(target, name)), template.name, chosen,
                 round(milliseconds, 2), until)


def _verify(target: Target, clone: Clone, template: Template,
            extra_dirs: Sequence[Path]) -> str | None:
    """Why the clone (so its template) does not match its label and the files, or None."""
    from .. import migrate, sources

    with connect(Target(conninfo_for(target, clone.name), target.source),
                 application_name=_APP) as conn:
        if schema_fingerprint(conn) != template.label.get("fingerprint"):
            return "was changed after it was sealed (its schema fingerprint differs)"
        applied = migrate.read_applied(conn)
    files = sources.scan(sources.migration_dirs(extra_dirs))
    for f in files:
        record = applied.get(f.version)
        if record is None or record.state != "applied":
            return f"lacks migration {f.version}"
        if record.checksum != f.checksum:
            return f"recorded another checksum for {f.version}"
    extra = set(applied) - {f.version for f in files}
    if extra:
        return f"records migrations no folder has ({', '.join(sorted(extra))})"
    return None


# -- listing and cleaning up -----------------------------------------------------------------

@dataclass
class Inventory:
    templates: list[ManagedDatabase] = field(default_factory=list)
    current: set[str] = field(default_factory=set)  # names of templates of the current files
    clones: list[ManagedDatabase] = field(default_factory=list)
    builds: list[ManagedDatabase] = field(default_factory=list)


def list_all(target: Target, extra_dirs: Sequence[Path] = ()) -> Inventory:
    """Templates (current or stale), clones and unfinished builds on the target's server."""
    with connect(target, application_name=_APP) as conn:
        return _inventory(conn, extra_dirs)


def _inventory(conn: psycopg.Connection[Any], extra_dirs: Sequence[Path]) -> Inventory:
    current_key = template_key(conn, extra_dirs).migrations_key
    inv = Inventory()
    for db in managed_databases(conn):
        if db.kind == "template":
            inv.templates.append(db)
            if db.label.get("migrations_key") == current_key:
                inv.current.add(db.name)
        elif db.kind == "clone":
            inv.clones.append(db)
        elif db.kind == "build":
            inv.builds.append(db)
    return inv


def _parse_time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


def _process_gone(label_owner: dict[str, Any]) -> bool:
    """True when the owner ran on this host and its process no longer exists."""
    if not label_owner.get("bound") or label_owner.get("host") != socket.gethostname():
        return False  # outlives its process, or another machine's: only its lease tells
    try:
        os.kill(int(label_owner.get("pid", 0)), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError, OverflowError):
        return False
    return False


@dataclass
class Dropped:
    name: str
    kind: str
    reason: str


def drop(target: Target, names: Sequence[str] = (), *, everything: bool = False,
         yes: bool = False, extra_dirs: Sequence[Path] = ()) -> list[Dropped]:
    """Drop the named clones or templates (only databases testdb made), or every clone.

    ``everything`` drops every clone on the server, whoever owns it: refused without
    ``yes``. Templates are dropped only by name.
    """
    if bool(names) == everything:
        raise BadConfig("give database names or --all (not both)")
    if everything and not yes:
        raise Refused("--all drops every test database on this server, whoever uses it: "
                      "add --yes")
    dropped: list[Dropped] = []
    with connect(target, application_name=_APP) as conn:
        managed = {db.name: db for db in managed_databases(conn)}
        if everything:
            chosen = [db for db in managed.values() if db.kind == "clone"]
        else:
            unknown = [n for n in names if n not in managed]
            if unknown:
                raise BadConfig(f"not a database made by testdb: {', '.join(unknown)}")
            chosen = [managed[n] for n in names]
        for db in chosen:
            drop_database(conn, db.name)
            dropped.append(Dropped(db.name, db.kind, "asked"))
    return dropped


def gc(target: Target, *, older_than: timedelta | None = None, keep: int = 3,
       extra_dirs: Sequence[Path] = (), dry_run: bool = False,
       now: datetime | None = None) -> list[Dropped]:
    """Drop what nobody will use again; return what went (or, dry, would go).

    Clones: lease expired, owner process gone (same host), or older than ``older_than``.
    Builds: nobody holds their build lock (the builder died). Templates: not built from
    the current files, beyond the newest ``keep`` of them.
    """
    now = now or datetime.now(UTC)
    out: list[Dropped] = []
    with connect(target, application_name=_APP) as conn:
        inv = _inventory(conn, extra_dirs)
        for db in inv.clones:
            created = _parse_time(db.label.get("created_at"))
            lease_until = _parse_time(db.label.get("lease_until"))
            reason = None
            if lease_until and lease_until < now:
                reason = "lease expired"
            elif _process_gone(db.label.get("owner") or {}):
                reason = "owner process gone"
            elif older_than is not None and created and created < now - older_than:
                reason = f"older than {older_than}"
            if reason:
                out.append(Dropped(db.name, "clone", reason))
        for db in inv.builds:
            if _build_abandoned(conn, db):
                out.append(Dropped(db.name, "build", "its builder is gone"))
        # Another migration set's template is stale to us but may be another project's
        # current one: only those not cloned for an hour go, beyond the newest ``keep``.
        stale = sorted((db for db in inv.templates if db.name not in inv.current),
                       key=lambda db: str(db.label.get("built_at", "")), reverse=True)
        for db in stale[keep:]:
            used = _parse_time(db.label.get("last_used_at") or db.label.get("built_at"))
            if used is None or used < now - TEMPLATE_IDLE:
                out.append(Dropped(db.name, "template", "built from other migrations, "
                                   "unused for an hour"))
        if not dry_run:
            import psycopg

            for item in list(out):
                try:
                    drop_database(conn, item.name)
                except psycopg.errors.InsufficientPrivilege:
                    out.remove(item)  # another role's database: its owner's gc drops it
    return out


def _build_abandoned(conn: psycopg.Connection[Any], db: ManagedDatabase) -> bool:
    """A build is abandoned when its template's build lock is free."""
    digest = str(db.label.get("key", ""))
    if not re.fullmatch(r"[0-9a-f]{8,}", digest) or BUILD_INFIX not in db.name:
        return False
    lock_id = int.from_bytes(bytes.fromhex(digest[:8]), "big", signed=True)
    row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, lock_id)).fetchone()
    if row and row[0]:
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, lock_id))
        return True
    return False
