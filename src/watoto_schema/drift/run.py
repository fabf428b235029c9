"""The ``drift`` operation: the expected schema against the live one, of the target and of
each database compared with it (a replica), or of every node of a multi-host DSN."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from .. import sources
from ..catalog import SchemaObject, dependents, snapshot
from ..errors import NotMigrated
from ..target import Target, connect
from .compare import compare
from .expected import expected_schema
from .history import read_history
from .model import DriftReport
from .online import online_owned, without_online
from .policy import policy_partitions


def drift(target: Target, *, against: Sequence[Target] = (), extra_dirs: Sequence[Path] = (),
          privileges: bool = False, comments: bool = False, use_cache: bool = True,
          policy_file: Path | None = None, for_fix: bool = True) -> list[DriftReport]:
    """Compare ``target`` (and each of ``against``) with the schema its migrations build.

    The expected schema is built from the versions ``target`` has applied; databases in
    ``against`` (e.g. read replicas) are compared with that same expected schema.
    Read-only on every compared database; creates and drops one scratch database on the
    target's server unless the expected schema is cached. ``privileges`` compares owners
    and grants too, ``comments`` the ``COMMENT ON`` texts. ``for_fix`` reads what only the
    fix script needs (the live views' dependencies).
    """
    from ..partitions import load_policy

    files = sources.scan(sources.migration_dirs(extra_dirs))  # the SQL is parsed only to build
    policy = load_policy(policy_file)
    reports: list[DriftReport] = []
    with connect(target) as conn:
        versions, history = read_history(conn, files)
        owned = online_owned(conn)
        if not versions:
            raise NotMigrated(target.display)
        expected, source = expected_schema(target, conn, files, versions, extra_dirs,
                                           privileges=privileges, comments=comments,
                                           use_cache=use_cache)
        actual = snapshot(conn, privileges=privileges, comments=comments)
        live_dependents = dependents(conn) if for_fix else {}
        live_paths = _update_paths(conn, expected, actual)
        row = conn.execute("SELECT current_date").fetchone()
        today = row[0] if row and isinstance(row[0], date) else date.today()
    relations = relation_kinds(expected)
    for which, rows, extra in [(target, actual, history)] + [
            (other, None, []) for other in against]:
        deps, paths = live_dependents, live_paths
        if rows is None:
            with connect(which) as other_conn:
                rows = snapshot(other_conn, privileges=privileges, comments=comments)
                deps = dependents(other_conn) if for_fix else {}
                paths = _update_paths(other_conn, expected, rows)
                _, extra = read_history(other_conn, files)
        diffs, conforming = policy_partitions(expected, rows, compare(expected, rows),
                                               policy, today)
        diffs = without_online(diffs, owned)
        reports.append(DriftReport(which.display, source, versions, extra + diffs, conforming,
                                   relations, expected_objects=expected, actual_objects=rows,
                                   dependents=deps, unfixable=_unfixable(extra + diffs, paths)))
    return reports


_VERSION = re.compile(r"VERSION (\S+) ")


def _update_paths(conn: Any, expected: Sequence[SchemaObject],
                  actual: Sequence[SchemaObject]) -> dict[str, bool]:
    """For each extension at another version than expected: whether the live server has an
    update path from the live version to the expected one."""
    want = {o.name: m.group(1) for o in expected
            if o.kind == "extension" and (m := _VERSION.match(o.definition))}
    found = {}
    for o in actual:
        m = _VERSION.match(o.definition) if o.kind == "extension" else None
        if m and o.name in want and want[o.name] != m.group(1):
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_extension_update_paths(%s) "
                "WHERE source = %s AND target = %s AND path IS NOT NULL)",
                (o.name.strip('"'), m.group(1), want[o.name])).fetchone()
            found[o.name] = bool(row and row[0])
    return found


def _version(definition: str | None) -> str:
    match = _VERSION.match((definition or "") + " ")
    return match.group(1) if match else "?"


def _unfixable(diffs: Sequence[Any], paths: dict[str, bool]) -> dict[str, str]:
    """What no script can converge, with the reason."""
    out = {}
    for d in diffs:
        if d.kind == "extension" and d.change == "different" and not paths.get(d.name, True):
            out[d.name] = (f"the server has no update path from version {_version(d.actual)} "
                           f"to {_version(d.expected)}: a downgrade (drop and create the "
                           "extension by hand, with what uses it)")
        elif d.kind == "migration":
            out[d.name] = ("the migration history, not the schema: see `watoto-schema "
                           "verify` and `repair`")
    return out


def relation_kinds(objects: Sequence[SchemaObject]) -> dict[str, str]:
    """Relations by name and what they are ("table", "partitioned table", "view", ...)."""
    return {o.name: ("partitioned table" if "PARTITION BY" in o.definition else o.kind)
            for o in objects if o.kind in ("table", "view", "materialized view")}


def compare_databases(expected: Target, live: Target, *,
                      privileges: bool = False, comments: bool = False) -> DriftReport:
    """``live`` against another database taken as the expected schema (no migrations
    involved, no partition policy): what the fix script of ``live`` must converge to."""
    with connect(expected) as conn:
        want = snapshot(conn, privileges=privileges, comments=comments)
    with connect(live) as conn:
        have = snapshot(conn, privileges=privileges, comments=comments)
        deps = dependents(conn)
        paths = _update_paths(conn, want, have)
    diffs = compare(want, have)
    return DriftReport(live.display, f"database {expected.display}", [], diffs,
                       [], relation_kinds(want), expected_objects=want, actual_objects=have,
                       dependents=deps, unfixable=_unfixable(diffs, paths))


def drift_all_nodes(target: Target, **options: Any) -> list[DriftReport]:
    """Compare every host of a multi-host ``target``: the primary with its migrations'
    schema, each standby with the same; a standby that differs while it has not replayed
    the primary's position is reported as behind (with its lag), not as drift."""
    from ..errors import BadConfig
    from ..replicas import bytes_behind, nodes

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
