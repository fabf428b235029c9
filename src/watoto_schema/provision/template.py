"""Template databases for test clones: keyed by what builds them, built once, sealed.

A template's name is ``watoto_tpl_<hash12>``, the hash covering every migration and
rollback file (shipped and extra folders), the partition policy, this tool's version and
code, the server's major version, the role that builds it (a clone's tables belong to that
role) and the data options. So a changed migration, a new release of the
tool or another server version gives another template: none goes stale silently.

Building happens under a temporary name (``..._build_<pid>``) under a session advisory
lock keyed by the hash, so concurrent provisioners (xdist workers, parallel CI jobs on one
server) build it exactly once: the others wait, then reuse it. The finished database is
labelled, marked ``IS_TEMPLATE``, closed to connections (``ALLOW_CONNECTIONS false``:
nobody can be connected to it when a clone is made, the cause of SQLSTATE 55006) and
renamed to its final name in one transaction. A killed build leaves only a ``_build_``
database, which never looks usable and which the next builder or ``gc`` drops.

Advisory locks are per database: every provisioner of one server must use the same
maintenance database (the target; ``postgres`` by default).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..errors import WatotoError
from ..resources import sql_text
from ..target import Target, connect, one_line

if TYPE_CHECKING:
    import psycopg

TEMPLATE_PREFIX = "watoto_tpl_"
BUILD_INFIX = "_build_"
# pg_advisory_lock(classid, objid): one lock per template hash.
LOCK_CLASS = 0x5754_4442  # "WTDB"
STRATEGIES = ("wal_log", "file_copy")
_APP = "watoto-schema testdb"


class ProvisionError(WatotoError):
    """A test database or template could not be made; nothing usable-looking was left."""


@dataclass(frozen=True)
class DataOptions:
    """What goes into a template besides the schema."""

    students: int = 0  # sample-data students (0: the schema only)
    seed: int = 7


@dataclass(frozen=True)
class TemplateKey:
    """What a template is built from, and the name that follows from it."""

    migrations_key: str  # files + policy + tool version and code + server major + role
    digest: str  # migrations_key + data options
    data: DataOptions
    server_major: int

    @property
    def name(self) -> str:
        return f"{TEMPLATE_PREFIX}{self.digest[:12]}"

    @property
    def lock_id(self) -> int:
        """The advisory lock's second key: the hash's first 32 bits, signed."""
        return int.from_bytes(bytes.fromhex(self.digest[:8]), "big", signed=True)


@dataclass
class Template:
    """A sealed template ready to clone."""

    name: str
    key: TemplateKey
    strategy: str | None  # the faster clone strategy measured for it (None before PG 15)
    built: bool  # built by this call (False: reused)
    seconds: float = 0.0
    label: dict[str, Any] = field(default_factory=dict)


def _files_digest(dirs: Sequence[Path], policy: Path) -> str:
    """Hash every migration and rollback file (by name and whitespace-normalised content)."""
    from ..sources import checksum

    digest = hashlib.sha256()
    for folder in dirs:
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix in (".sql", ".py"):
                text = path.read_text(encoding="utf-8")
                digest.update(f"{path.name}\0{checksum(text)}\n".encode())
    digest.update(b"policy\0" + policy.read_bytes())
    return digest.hexdigest()


@cache  # the tool's code does not change while it runs
def _builder_digest() -> str:
    """Hash of this tool's own code: a template built by other code is another template
    (the stale-template bug of tools whose key covered only the migrations)."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def server_major(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    assert row is not None
    return int(row[0]) // 10000


def template_key(conn: psycopg.Connection[Any], extra_dirs: Sequence[Path] = (),
                 data: DataOptions = DataOptions()) -> TemplateKey:
    """The key of the template these migrations, this tool and this server build."""
    from ..partitions import policy_path
    from ..sources import migration_dirs

    major = server_major(conn)
    row = conn.execute("SELECT current_user").fetchone()
    role = str(row[0]) if row else ""
    # The role is part of the key: a clone's tables belong to whoever built the template,
    # so another role's tests could not use them.
    base = hashlib.sha256(
        f"{_files_digest(migration_dirs(extra_dirs), policy_path())}\0{_builder_digest()}"
        f"\0{major}\0{role}".encode()).hexdigest()
    digest = hashlib.sha256(f"{base}\0{data.students}\0{data.seed}".encode()).hexdigest()
    return TemplateKey(base, digest, data, major)


# -- reading what is there ---------------------------------------------------------------------

@dataclass
class ManagedDatabase:
    """A database testdb made, with its label (the JSON in its comment)."""

    name: str
    is_template: bool
    allow_connections: bool
    label: dict[str, Any]
    bytes: int

    @property
    def kind(self) -> str:
        return str(self.label.get("kind", "")).removeprefix("watoto-")


def managed_databases(conn: psycopg.Connection[Any]) -> list[ManagedDatabase]:
    """Every template, build and clone testdb made on this server."""
    found = []
    for name, is_template, allow, label, size in conn.execute(
            sql_text("provision/databases.sql")).fetchall():
        try:
            parsed = json.loads(label)
        except (TypeError, ValueError):
            continue  # a comment someone else wrote that merely looks like ours
        found.append(ManagedDatabase(name, is_template, allow, parsed, int(size or 0)))
    return found


def _sealed(db: ManagedDatabase | None, key: TemplateKey) -> bool:
    return (db is not None and db.kind == "template" and db.is_template
            and not db.allow_connections and db.label.get("key") == key.digest)


def _find(conn: psycopg.Connection[Any], name: str) -> ManagedDatabase | None:
    row = conn.execute(
        "SELECT d.datname, d.datistemplate, d.datallowconn, "
        "shobj_description(d.oid, 'pg_database'), 0 FROM pg_database d WHERE datname = %s",
        (name,)).fetchone()
    if row is None:
        return None
    try:
        label = json.loads(row[3]) if row[3] else {}
    except ValueError:
        label = {}
    return ManagedDatabase(row[0], row[1], row[2], label if isinstance(label, dict) else {}, 0)


# -- building ----------------------------------------------------------------------------------

@contextmanager
def build_lock(conn: psycopg.Connection[Any], key: TemplateKey) -> Iterator[None]:
    """Hold the session advisory lock of ``key``'s template (waits for another builder)."""
    conn.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, key.lock_id))
    try:
        yield
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, key.lock_id))


def drop_database(conn: psycopg.Connection[Any], name: str, *,
                  may_be_template: bool = True) -> None:
    """Drop a database testdb made, template or not (``False`` for a clone saves asking)."""
    from ..target import drop_database as drop

    drop(conn, name, may_be_template=may_be_template)


def conninfo_for(target: Target, dbname: str) -> str:
    """The target's connection string pointed at another database of the same server."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(target.conninfo, dbname=dbname)


def ensure_template(target: Target, conn: psycopg.Connection[Any], *,
                    extra_dirs: Sequence[Path] = (), data: DataOptions = DataOptions(),
                    on_event: Callable[[str], None] | None = None) -> Template:
    """Return the sealed template for these migrations and data options, building it once.

    ``conn`` is an autocommit connection to the maintenance database (the target). A
    usable template is reused without taking any lock. Otherwise the build lock is taken,
    leftovers of killed builds and any unsealed database under the final name are dropped,
    and the template is built, measured and sealed. Raises ``ProvisionError`` when the
    build fails; then nothing of it is left.
    """
    note = on_event or (lambda message: None)
    key = template_key(conn, extra_dirs, data)
    found = _find(conn, key.name)
    if _sealed(found, key):
        assert found is not None
        return Template(key.name, key, found.label.get("strategy"), False, 0.0, found.label)
    with build_lock(conn, key):
        found = _find(conn, key.name)
        if _sealed(found, key):  # another process built it while we waited
            assert found is not None
            return Template(key.name, key, found.label.get("strategy"), False, 0.0,
                            found.label)
        for (leftover,) in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s",
                (f"{key.name}{BUILD_INFIX}%",)).fetchall():
            note(f"dropping {leftover}, left by a build that did not finish")
            drop_database(conn, leftover)
        if found is not None:
            note(f"rebuilding {key.name}: it is not a sealed template of this key")
            drop_database(conn, key.name)
        return _build(target, conn, key, extra_dirs, note)


def _label(conn: psycopg.Connection[Any], name: str, label: dict[str, Any]) -> None:
    from psycopg import sql

    conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
        sql.Identifier(name), sql.Literal(json.dumps(label, sort_keys=False))))


def _build(target: Target, conn: psycopg.Connection[Any], key: TemplateKey,
           extra_dirs: Sequence[Path], note: Callable[[str], None]) -> Template:
    from psycopg import sql

    from .. import migrate, partitions, sample_data

    began = time.perf_counter()
    building = f"{key.name}{BUILD_INFIX}{os.getpid()}"
    note(f"building template {key.name} (migrations"
         + (f", {key.data.students} students" if key.data.students else "") + ")")
    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(building)))
    try:
        _label(conn, building, {"kind": "watoto-build", "key": key.digest,
                                "host": socket.gethostname(), "pid": os.getpid(),
                                "started_at": datetime.now(UTC).isoformat()})
        scratch = Target(conninfo_for(target, building), target.source)
        # an empty template serves no one: online migrations run as plain transactions
        migrate.migrate(scratch, extra_dirs=extra_dirs,
                        options=migrate.RunOptions(online=False))
        partitions.ensure(scratch, skip_missing=True)
        with connect(scratch, application_name=_APP) as db:
            if key.data.students:  # the load ends with ANALYZE of what it loaded
                sample_data.load(db, key.data.students, seed=key.data.seed)
                db.execute("ANALYZE")  # and the rest, so every clone starts with statistics
            fingerprint = schema_fingerprint(db)
        label = {"kind": "watoto-template", "key": key.digest,
                 "migrations_key": key.migrations_key, "tool": __version__,
                 "server_major": key.server_major, "students": key.data.students,
                 "seed": key.data.seed, "fingerprint": fingerprint, "strategy": None,
                 "clone_ms": {}, "built_at": datetime.now(UTC).isoformat(),
                 "build_seconds": round(time.perf_counter() - began, 3)}
        with conn.transaction():  # label, seal and rename at once: never half-sealed
            _label(conn, building, label)
            conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true "
                                 "ALLOW_CONNECTIONS false").format(sql.Identifier(building)))
            conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(building), sql.Identifier(key.name)))
    except BaseException as exc:
        # A leftover _build_ database is dropped by the next build or by gc; the build's
        # own failure is what the user needs to read.
        with suppress(Exception):
            drop_database(conn, building)
        if isinstance(exc, WatotoError):
            raise ProvisionError(f"building template {key.name} failed, nothing was kept: "
                                 f"{exc}") from exc
        if isinstance(exc, Exception):
            raise ProvisionError(f"building template {key.name} failed, nothing was kept: "
                                 f"{one_line(exc)}") from exc
        raise
    seconds = time.perf_counter() - began
    note(f"built {key.name} in {seconds:.2f}s")
    return Template(key.name, key, None, True, seconds, label)


# The template's first clones, timed: WAL_LOG, FILE_COPY, WAL_LOG. The first clone after a
# build also flushes the build's dirty buffers, so WAL_LOG counts by its best time; FILE_COPY
# must then beat it by the margin: WAL_LOG is PostgreSQL 15's default and, unlike FILE_COPY,
# forces no checkpoint on a server the application may share.
TRIAL = ("wal_log", "file_copy", "wal_log")
FILE_COPY_MARGIN = 0.8


def next_strategy(template: Template) -> str | None:
    """The clone strategy to use: the chosen one, else the next of the trial."""
    if template.key.server_major < 15:
        return None  # STRATEGY arrived in PostgreSQL 15
    if template.strategy:
        return template.strategy
    done = sum(len(v) for v in _samples(template).values())
    return TRIAL[min(done, len(TRIAL) - 1)]


def _samples(template: Template) -> dict[str, list[float]]:
    raw = template.label.get("clone_ms") or {}
    return {s: [float(v) for v in (raw[s] if isinstance(raw[s], list) else [raw[s]])]
            for s in STRATEGIES if s in raw}


def record_use(conn: psycopg.Connection[Any], template: Template, strategy: str | None,
               milliseconds: float | None) -> None:
    """Record in the template's label when it was last cloned and, until a strategy is
    chosen, how long a clone with ``strategy`` took. After the trial, FILE_COPY is chosen
    only if it beat WAL_LOG's best time by the margin. (Concurrent writers: the last one
    wins, harmlessly.)"""
    import psycopg

    if strategy and milliseconds is not None and not template.strategy:
        timed = _samples(template)
        timed.setdefault(strategy, []).append(round(milliseconds, 2))
        template.label["clone_ms"] = timed
        if sum(len(v) for v in timed.values()) >= len(TRIAL) and len(timed) == 2:
            wal, copy = min(timed["wal_log"]), min(timed["file_copy"])
            chosen = "file_copy" if copy < wal * FILE_COPY_MARGIN else "wal_log"
            template.strategy = template.label["strategy"] = chosen
    template.label["last_used_at"] = datetime.now(UTC).isoformat()
    # Another role's template: cloning it is allowed, labelling it is not.
    with suppress(psycopg.errors.InsufficientPrivilege):
        _label(conn, template.name, template.label)


def schema_fingerprint(conn: psycopg.Connection[Any]) -> str:
    """The catalog fingerprint of the connected database (see sql/provision/fingerprint.sql)."""
    row = conn.execute(sql_text("provision/fingerprint.sql")).fetchone()
    assert row is not None
    return str(row[0])
