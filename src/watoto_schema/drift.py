"""Drift detection: how a live database differs from what its migrations say.

The expected schema is built for real: the migrations the target has applied (shipped and
``--migrations`` folders) run into a scratch database on the same server (or, when the
server refuses ``CREATE DATABASE``, e.g. a read replica, into a throwaway embedded
cluster); then both sides are read from the catalog (``catalog.snapshot``) and compared.
A built expected schema is cached by the applied migrations' checksums and the server
version, so the next check of a database at the same version only reads the catalog.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from . import __version__, sources
from .catalog import SchemaObject, snapshot
from .errors import NotMigrated
from .resources import CACHE_ENV as CACHE_ENV  # tests point it at a folder of their own
from .resources import cache_dir, sql_text
from .target import Target, connect, drop_database


@dataclass
class Difference:
    """One way the live schema differs from the expected one."""

    object: str  # what the report groups by: a table, view, function, ...
    kind: str  # column, constraint, index, view definition, trigger, migration, ...
    name: str
    change: str  # missing | unexpected | different | renamed
    expected: str | None = None
    actual: str | None = None


@dataclass
class DriftReport:
    target: str
    expected_from: str  # how the expected schema was obtained
    versions: list[str]  # the applied versions it was built from
    differences: list[Difference] = field(default_factory=list)
    policy_partitions: list[str] = field(default_factory=list)  # extra, but per the policy
    # expected relations and what they are ("table", "partitioned table", "view", ...)
    relations: dict[str, str] = field(default_factory=dict, repr=False)
    # A standby that has not replayed the primary's position: its differences are its lag,
    # not drift (`drift --all-nodes`).
    behind_bytes: float | None = None

    @property
    def in_sync(self) -> bool:
        return not self.differences

    @property
    def drifted(self) -> bool:
        """Differences that are drift (not a standby's replication lag)."""
        return bool(self.differences) and self.behind_bytes is None

    def as_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        del doc["relations"]
        doc["in_sync"] = self.in_sync
        doc["drifted"] = self.drifted
        return doc


# -- building the expected schema ----------------------------------------------------------

def _cache_key(server_version: int, files: Sequence[sources.FileSummary],
               privileges: bool) -> str:
    material = json.dumps({
        "tool": __version__, "server": server_version, "privileges": privileges,
        "queries": [sql_text("catalog/objects.sql"), sql_text("catalog/privileges.sql")],
        "migrations": [(f.version, f.checksum) for f in files],
    })
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def _scratch_on_server(conn: Any, target: Target, versions: Sequence[str],
                       extra_dirs: Sequence[Path], privileges: bool) -> list[SchemaObject]:
    """Build the expected schema in a temporary database on the target's server."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    from .migrate import apply_versions

    name = f"watoto_drift_{os.getpid()}_{secrets.token_hex(4)}"
    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        scratch = Target(make_conninfo(target.conninfo, dbname=name), "scratch")
        apply_versions(scratch, versions, extra_dirs)
        with psycopg.connect(scratch.conninfo, autocommit=True) as scratch_conn:
            return snapshot(scratch_conn, privileges=privileges)
    finally:
        drop_database(conn, name)


def _scratch_in_local_cluster(versions: Sequence[str], extra_dirs: Sequence[Path],
                              privileges: bool) -> list[SchemaObject]:
    """Build the expected schema in a throwaway embedded cluster (slower, ~2 s)."""
    import psycopg

    from .local import LocalCluster
    from .migrate import apply_versions

    root = Path(tempfile.mkdtemp(prefix="watoto-drift-"))
    os.chmod(root, 0o755)
    cluster = LocalCluster(root / "cluster", fsync=False)
    try:
        cluster.start(dbname="expected")
        scratch = Target(cluster.url("expected"), "embedded scratch cluster")
        apply_versions(scratch, versions, extra_dirs)
        with psycopg.connect(scratch.conninfo, autocommit=True) as conn:
            return snapshot(conn, privileges=privileges)
    finally:
        cluster.destroy()
        os.rmdir(root)


def expected_schema(target: Target, conn: Any, files: Sequence[sources.FileSummary],
                    versions: Sequence[str], extra_dirs: Sequence[Path], *,
                    privileges: bool = False, use_cache: bool = True
                    ) -> tuple[list[SchemaObject], str]:
    """The schema ``versions`` build, and how it was obtained (cache, server, local)."""
    import psycopg

    built = [f for f in files if f.version in set(versions)]
    row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    key = _cache_key(int(row[0]), built, privileges)
    cached = cache_dir() / f"expected-{key}.json"
    if use_cache and cached.is_file():
        return [SchemaObject(*r) for r in json.loads(cached.read_text())], f"cache ({cached})"
    try:
        rows = _scratch_on_server(conn, target, versions, extra_dirs, privileges)
        source = "a scratch database on the target's server"
    except psycopg.errors.InsufficientPrivilege:
        rows = _scratch_in_local_cluster(versions, extra_dirs, privileges)
        source = "a throwaway embedded cluster (CREATE DATABASE not allowed on the server)"
    except psycopg.errors.ReadOnlySqlTransaction:
        rows = _scratch_in_local_cluster(versions, extra_dirs, privileges)
        source = "a throwaway embedded cluster (the server is read-only)"
    if use_cache:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            temporary = cached.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps([list(r) for r in rows]))
            temporary.replace(cached)
        except OSError:
            pass  # a cache we cannot write is only slower
    return rows, source


# -- comparing ---------------------------------------------------------------------------

def compare(expected: Iterable[SchemaObject], actual: Iterable[SchemaObject]) -> list[Difference]:
    """Differences between two snapshots, renamed constraints/indexes paired up."""
    exp = {(o.kind, o.name): o for o in expected}
    act = {(o.kind, o.name): o for o in actual}
    diffs: list[Difference] = []
    for key in sorted(exp.keys() | act.keys()):
        e, a = exp.get(key), act.get(key)
        if e and a:
            if e.definition != a.definition and (
                    _canonical(e.definition) != _canonical(a.definition)):
                diffs.append(Difference(e.object, e.kind, e.name, "different",
                                        e.definition, a.definition))
        elif e:
            diffs.append(Difference(e.object, e.kind, e.name, "missing", e.definition, None))
        elif a:
            diffs.append(Difference(a.object, a.kind, a.name, "unexpected", None, a.definition))
    return _collapse_partition_indexes(_pair_renames(diffs))


_ATTACHED = re.compile(r" \[ATTACHED TO (\S+)\]$")
_CAST_ARRAY = re.compile(r"\(ARRAY\[((?:'(?:[^']|'')*'::[a-z][a-z ]*[a-z](?:, )?)+)\]\)::"
                         r"([a-z][a-z ]*[a-z])\[\]")
_CAST_ELEMENT = re.compile(r"'(?:[^']|'')*'::[a-z][a-z ]*[a-z]")


def _canonical(definition: str) -> str:
    """A definition as it reads after a pg_dump/pg_restore round trip (#11).

    ``CHECK (v IN ('a', 'b'))`` on a varchar column is stored as ``(ARRAY['a'::character
    varying, ...])::text[]`` when created, but a restored copy deparses it as
    ``ARRAY[('a'::character varying)::text, ...]``: the same constraint, written twice.
    """
    def element_casts(match: re.Match[str]) -> str:
        cast = match.group(2)
        return "ARRAY[" + ", ".join(f"({e})::{cast}" for e in
                                    _CAST_ELEMENT.findall(match.group(1))) + "]"

    return _CAST_ARRAY.sub(element_casts, definition)


def _collapse_partition_indexes(diffs: list[Difference]) -> list[Difference]:
    """Report a partitioned index once: drop the rows of its partitions' attached copies
    when the parent index itself differs in the same way."""
    parents = {(d.name, d.change) for d in diffs if d.kind == "index"}
    kept = []
    for d in diffs:
        match = _ATTACHED.search(d.expected or d.actual or "") if d.kind == "index" else None
        if match and (match.group(1), d.change) in parents:
            continue
        kept.append(d)
    return kept


def _unnamed(diff: Difference, definition: str | None) -> str:
    """A definition with the object's own name taken out, to spot renames."""
    text = definition or ""
    if diff.kind == "index":
        short = diff.name.rsplit(".", 1)[-1]
        text = re.sub(rf"INDEX {re.escape(short)} ON", "INDEX ? ON", text, count=1)
    return text


def _pair_renames(diffs: list[Difference]) -> list[Difference]:
    missing = [d for d in diffs if d.change == "missing" and d.kind in ("constraint", "index")]
    unexpected = [d for d in diffs if d.change == "unexpected"
                  and d.kind in ("constraint", "index")]
    for m in missing:
        for u in unexpected:
            if (u.kind == m.kind and u.object == m.object
                    and _unnamed(u, u.actual) == _unnamed(m, m.expected)):
                m.change, m.actual = "renamed", u.name
                diffs.remove(u)
                unexpected.remove(u)
                break
    # A partition's copy of a partitioned index, attached to the same parent index with the
    # same definition, under another name: PostgreSQL names the copies itself for a plain
    # CREATE INDEX, a concurrent build per partition names them (concurrent.py); the name
    # of a copy carries nothing (docs/drift.md).
    return [d for d in diffs if not (d.kind == "index" and d.change == "renamed"
                                     and _ATTACHED.search(d.expected or ""))]


# -- the inferred partition policy --------------------------------------------------------

_BOUND = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")


def _period(lower: str, upper: str) -> str | None:
    try:
        lo, hi = datetime.fromisoformat(lower), datetime.fromisoformat(upper)
    except ValueError:
        return None
    if lo.time() != datetime.min.time() or hi.time() != datetime.min.time():
        return None
    if lo.day == 1 and lo.month == 1 and hi == lo.replace(year=lo.year + 1):
        return "yearly"
    nxt = lo.replace(year=lo.year + lo.month // 12, month=lo.month % 12 + 1)
    if lo.day == 1 and hi == nxt:
        return "monthly"
    if (hi - lo).days == 1:
        return "daily"
    return None


def _name_template(name: str, lower: str) -> str:
    lo = datetime.fromisoformat(lower)
    table = name.rsplit(".", 1)[-1]
    return (table.replace(f"{lo.year:04d}", "{Y}", 1).replace(f"{lo.month:02d}", "{M}", 1)
            if f"{lo.year:04d}" in table else table)


def _declared_partitions(policy: dict[str, Any], today: date, actual: Sequence[SchemaObject],
                         diffs: list[Difference]) -> tuple[list[Difference], set[str]]:
    """Judge partitions of tables declared in the partition policy.

    An extra partition whose bounds are one policy period on calendar boundaries, at or
    after ``start``, named by the policy's naming, is what ``partitions ensure`` makes: not
    drift. A period that no partition covers *between* two partitions and before the
    premake horizon is drift (``missing``: its rows land in DEFAULT now or soon;
    ``partitions ensure`` fills it). The runway ahead and partitions retired at the old end
    are the partition lifecycle's business, reported by ``partitions list``, not schema
    drift: a database that ``migrate`` just built is in sync whatever the date.
    """
    from . import partitions as lib

    conforming: set[str] = set()
    covered: dict[str, list[tuple[date, date]]] = {}
    for o in actual:
        if o.kind == "partition" and (m := _BOUND.match(o.definition)):
            lo, hi = _as_day(m.group(1)), _as_day(m.group(2))
            if lo and hi:
                covered.setdefault(o.object, []).append((lo, hi))
    added: list[Difference] = []
    for spec in policy.values():
        if spec.strategy != "range":
            continue
        parent = f"public.{spec.table}"
        for d in diffs:
            if d.object != parent or d.kind != "partition" or d.change != "unexpected":
                continue
            m = _BOUND.match(d.actual or "")
            lo, hi = (_as_day(m.group(1)), _as_day(m.group(2))) if m else (None, None)
            if (lo and hi and lo >= spec.start and lo == lib.period_start(lo, spec.interval)
                    and hi == lib.next_period(lo, spec.interval)
                    and d.name == f"public.{spec.name_for(lo)}"):
                conforming.add(d.name)
        ranges = covered.get(parent)
        if not ranges:
            continue
        first = max(spec.start, min(a for a, _ in ranges))
        last = min(max(b for _, b in ranges), spec.premake_horizon(today))
        for lo, hi in lib.periods(lib.period_start(first, spec.interval), last, spec.interval):
            if not any(a < hi and lo < b for a, b in ranges):
                added.append(Difference(
                    parent, "partition", f"public.{spec.name_for(lo)}", "missing",
                    f"FOR VALUES FROM ('{lo} 00:00:00') TO ('{hi} 00:00:00') "
                    f"(a gap between partitions: run `partitions ensure`)", None))
    return added, conforming


def _as_day(text: str) -> date | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.date() if moment.time() == datetime.min.time() else None


def _policy_partitions(expected: Sequence[SchemaObject], actual: Sequence[SchemaObject],
                       diffs: list[Difference], policy: dict[str, Any],
                       today: date) -> tuple[list[Difference], list[str]]:
    """Apply the partition policy to the differences.

    Declared tables follow ``sql/partitions.toml`` (see ``_declared_partitions``). For
    other tables the policy is inferred: all expected partitions of a parent cover the
    same period (yearly, monthly or daily, on calendar boundaries) under one naming
    pattern; an extra partition with that period and pattern is not drift.
    """
    added, conforming = _declared_partitions(policy, today, actual, diffs)
    declared = {f"public.{t}" for t in policy}
    patterns: dict[str, set[tuple[str | None, str]]] = {}
    for o in expected:
        if o.kind == "partition" and o.object not in declared and (
                m := _BOUND.match(o.definition)):
            patterns.setdefault(o.object, set()).add(
                (_period(*m.groups()), _name_template(o.name, m.group(1))))
    for d in diffs:
        if d.kind != "partition" or d.change != "unexpected" or not d.actual:
            continue
        m = _BOUND.match(d.actual)
        known = patterns.get(d.object, set())
        if m and len(known) == 1:
            period, template = next(iter(known))
            if period and (_period(*m.groups()), _name_template(d.name, m.group(1))) == (
                    period, template):
                conforming.add(d.name)
    kept = [d for d in diffs if not (d.change == "unexpected" and
                                     (d.name in conforming or d.object in conforming))]
    return kept + added, sorted(conforming)


# -- the operation ---------------------------------------------------------------------------

def _history(conn: Any, files: Sequence[sources.FileSummary]) -> tuple[list[str],
                                                                       list[Difference]]:
    from .migrate import read_applied

    applied = read_applied(conn)
    by_version = {f.version: f for f in files}
    diffs: list[Difference] = []
    versions = []
    for version, record in applied.items():
        f = by_version.get(version)
        if f is None:
            diffs.append(Difference("migration history", "migration", version, "unexpected",
                                    None, "applied, but no migration file has this version"))
            continue
        if record.state == "running":
            diffs.append(Difference("migration history", "migration", version, "different",
                                    "applied", "partially applied"))
            continue
        versions.append(version)
        if record.checksum and record.checksum != f.checksum:
            diffs.append(Difference("migration history", "migration", version, "different",
                                    f"file checksum {f.checksum[:12]}",
                                    f"applied checksum {record.checksum[:12]}"))
    return versions, diffs


def _online_owned(conn: Any) -> dict[str, list[str]]:
    """What an online migration in progress added (docs/online.md): not drift."""
    from .migrate import online

    state = online.active(conn)
    return state.plan["owned"] if state is not None else {}


_SHADOW = re.compile(r'(^|[."_])_w_')


def _without_online(diffs: list[Difference], owned: dict[str, list[str]]) -> list[Difference]:
    """Drop the differences an active online migration explains: its version schemas and
    their views, its shadow columns, indexes, constraints and triggers (``_w_``), and what
    its plan says it added; anything else is still drift."""
    if not owned:
        return diffs
    schemas = owned.get("schemas", [])
    names = [n for key in ("columns", "indexes", "constraints", "tables", "functions",
                           "triggers") for n in owned.get(key, [])]

    def explained(d: Difference) -> bool:
        for schema in schemas:
            if d.name in (schema, f'"{schema}"') or d.name.startswith((f"{schema}.",
                                                                        f'"{schema}".')):
                return True
        if _SHADOW.search(d.name):
            return True
        bare, table = d.name.replace('"', ""), d.object.replace('"', "")
        if d.kind.startswith("sequence") and any(  # an identity or serial of a new table
                re.search(rf"(^|\.){re.escape(n)}_\w+_seq$", bare)
                for n in owned.get("tables", [])):
            return True
        return any(bare == n or bare.endswith("." + n) for n in names) or any(
            table == n or table.endswith("." + n) for n in owned.get("tables", []))

    return [d for d in diffs if not explained(d)]


def drift(target: Target, *, against: Sequence[Target] = (), extra_dirs: Sequence[Path] = (),
          privileges: bool = False, use_cache: bool = True,
          policy_file: Path | None = None) -> list[DriftReport]:
    """Compare ``target`` (and each of ``against``) with the schema its migrations build.

    The expected schema is built from the versions ``target`` has applied; databases in
    ``against`` (e.g. read replicas) are compared with that same expected schema.
    Read-only on every compared database; creates and drops one scratch database on the
    target's server unless the expected schema is cached.
    """
    from .partitions import load_policy

    files = sources.scan(sources.migration_dirs(extra_dirs))  # the SQL is parsed only to build
    policy = load_policy(policy_file)
    reports: list[DriftReport] = []
    with connect(target) as conn:
        versions, history = _history(conn, files)
        online_owned = _online_owned(conn)
        if not versions:
            raise NotMigrated(target.display)
        expected, source = expected_schema(target, conn, files, versions, extra_dirs,
                                           privileges=privileges, use_cache=use_cache)
        actual = snapshot(conn, privileges=privileges)
        row = conn.execute("SELECT current_date").fetchone()
        today = row[0] if row and isinstance(row[0], date) else date.today()
    relations = {o.name: ("partitioned table" if "PARTITION BY" in o.definition else o.kind)
                 for o in expected if o.kind in ("table", "view", "materialized view")}
    for which, rows, extra in [(target, actual, history)] + [
            (other, None, []) for other in against]:
        if rows is None:
            with connect(which) as other_conn:
                rows = snapshot(other_conn, privileges=privileges)
                _, extra = _history(other_conn, files)
        diffs, conforming = _policy_partitions(expected, rows, compare(expected, rows),
                                               policy, today)
        diffs = _without_online(diffs, online_owned)
        reports.append(DriftReport(which.display, source, versions, extra + diffs, conforming,
                                   relations))
    return reports


def drift_all_nodes(target: Target, **options: Any) -> list[DriftReport]:
    """Compare every host of a multi-host ``target``: the primary with its migrations'
    schema, each standby with the same; a standby that differs while it has not replayed
    the primary's position is reported as behind (with its lag), not as drift."""
    from .errors import BadConfig
    from .replicas import bytes_behind, nodes

    found = nodes(target)
    primaries = [n for n in found if not n.standby]
    if len(primaries) != 1:
        raise BadConfig(f"{target.display}: {len(primaries)} primaries among "
                        f"{len(found)} hosts; --all-nodes needs exactly one")
    primary = primaries[0].target
    standbys = [n for n in found if n.standby]
    reports = drift(primary, against=[n.target for n in standbys], **options)
    for node, report in zip(standbys, reports[1:], strict=True):
        if report.differences and node.replay_lsn is not None:
            lag = bytes_behind(primary, node.replay_lsn)
            if lag > 0:
                report.behind_bytes = lag
    return reports
