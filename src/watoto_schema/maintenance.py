"""Plan and run ANALYZE, VACUUM and REINDEX without blocking the application.

``plan()`` only reads (the cumulative statistics views and the catalog) and lists what
needs work and why: tables with many dead tuples or stale statistics, partitioned parents
that were never analyzed (autovacuum never analyzes them), estimated table and index
bloat (confirmed with pgstattuple on request), INVALID indexes including ``_ccnew`` /
``_ccold`` leftovers of a failed ``REINDEX CONCURRENTLY`` (never a build in progress), and
tables nearing transaction-ID wraparound.

``run()`` executes tasks in autocommit, each statement under ``lock_timeout`` with retries
and backoff when a lock is not granted, on up to ``jobs`` connections (bounded by the free
connection slots), never two tasks on the same table at once, holding a session-level
advisory lock so two runs never overlap. Nothing ``run()`` does stops reads or writes:
VACUUM, ANALYZE and the concurrent index operations take SHARE UPDATE EXCLUSIVE, and
``VACUUM FULL`` (ACCESS EXCLUSIVE) is never planned, only built on explicit request.

The direct forms (``analyze_tasks``, ``vacuum_tasks``, ``reindex_tasks``) build tasks for
named tables and indexes; ``render_script()`` prints any task list with the lock each
statement takes, for ``--dry-run``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .errors import (
    BadConfig,
    MaintenanceBlocked,
    MaintenanceFailed,
    MaintenanceLockHeld,
    Refused,
    WatotoError,
)
from .migrate import LOCK_CLASS, LOCK_MIGRATE
from .resources import sql_text
from .retry import LOCK_NOT_AVAILABLE, backoff_delay
from .target import Target, connect, one_line

if TYPE_CHECKING:
    import psycopg

# pg_advisory_lock(classid, objid): the migration lock is (LOCK_CLASS, 1); maintenance runs
# serialise on (LOCK_CLASS, 2), so a migration and a maintenance run never wait on each other.
LOCK_MAINTAIN = 2
DEADLOCK_DETECTED = "40P01"
_RETRYABLE = frozenset({LOCK_NOT_AVAILABLE, DEADLOCK_DETECTED})
MAX_JOBS = 8  # hard cap on parallel workers, whatever the free connection slots
APPLICATION = "watoto-schema maintain"
_LEFTOVER = re.compile(r"_cc(new|old)[0-9]*$")

# What each action does to concurrent sessions, for --dry-run and the docs.
LOCK_EFFECTS = {
    "analyze": "reads and writes go on; DDL and other VACUUM/ANALYZE of the table wait",
    "vacuum": "reads and writes go on; truncating empty pages at the end takes ACCESS "
              "EXCLUSIVE only when it is free at once and lets go as soon as anyone waits",
    "vacuum_full": "every read and write of the table waits until the rewrite ends",
    "reindex": "reads and writes go on; waits (blocking no one) for transactions older than "
               "each phase",
    "rebuild_index": "reads and writes go on; each statement waits (blocking no one) for "
                     "transactions older than it",
    "drop_index": "reads and writes go on; waits (blocking no one) for transactions using "
                  "the index",
}
LOCK_EFFECTS["vacuum_freeze"] = LOCK_EFFECTS["vacuum"]

# Order of execution: clear broken indexes first (they slow every write), then the most
# urgent vacuums, then statistics, then rebuilds of bloated indexes, partitioned parents
# last (their ANALYZE samples the partitions vacuumed before).
_PRIORITY = {"drop_index": 0, "rebuild_index": 1, "vacuum_freeze": 2, "vacuum_full": 3,
             "vacuum": 3, "analyze": 4, "reindex": 5}


# -- results ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Thresholds:
    """When a table or index needs work. Ratios are fractions (0.2 = 20%)."""

    dead_ratio: float = 0.2  # dead tuples / (live + dead), as autovacuum's scale factor
    dead_min: int = 1000  # ... and at least this many dead tuples
    analyze_ratio: float = 0.1  # rows changed since the last analyze / live rows
    analyze_min: int = 1000  # ... and at least this many changed rows
    stale_days: float = 7.0  # analyzed longer ago than this, with rows changed since
    table_bloat_ratio: float = 0.4  # estimated wasted share of the table's pages
    index_bloat_ratio: float = 0.4  # estimated wasted share of a B-tree index's pages
    bloat_min_bytes: int = 8 * 1024 * 1024  # ... and at least this much wasted
    wraparound_ratio: float = 0.5  # age(relfrozenxid) / autovacuum_freeze_max_age


@dataclass
class Finding:
    """One reason why a relation needs work (or attention)."""

    kind: str  # dead_tuples | stale_statistics | never_analyzed | partitioned_never_analyzed |
    #            partitioned_stale | table_bloat | index_bloat | invalid_index | leftover_index |
    #            wraparound | build_in_progress | requested
    schema: str
    relation: str
    reason: str
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class Task:
    """One maintenance operation: statements run in autocommit, one after the other."""

    action: str  # analyze | vacuum | vacuum_freeze | vacuum_full | reindex | rebuild_index |
    #              drop_index
    schema: str
    relation: str  # the table or index operated on
    table: str  # the table whose lock it takes (the relation itself for table actions)
    statements: list[str]
    lock: str  # the lock it takes, e.g. "SHARE UPDATE EXCLUSIVE on public.courses"
    findings: list[Finding] = field(default_factory=list)
    size_bytes: int | None = None
    lock_set: frozenset[int] = field(default_factory=frozenset, repr=False)  # table oids
    partitioned: bool = False  # a partitioned parent (its ANALYZE covers every partition)
    verb: str = ""  # the statement without its table, e.g. "VACUUM (ANALYZE)"

    @property
    def title(self) -> str:
        """What the task does, for people: ``VACUUM (ANALYZE) public.courses``."""
        label = f"{self.schema}.{self.relation}"
        if self.action == "rebuild_index":
            return f"rebuild INVALID index {label}"
        if self.action == "drop_index":
            return f"drop leftover index {label}"
        if self.action == "reindex":
            return f"REINDEX INDEX CONCURRENTLY {label}"
        return f"{self.verb} {label}"

    @property
    def reasons(self) -> list[str]:
        return [f.reason for f in self.findings]

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "title": self.title, "schema": self.schema,
                "relation": self.relation, "table": self.table,
                "statements": self.statements, "lock": self.lock,
                "lock_effect": LOCK_EFFECTS[self.action], "size_bytes": self.size_bytes,
                "reasons": self.reasons, "findings": [asdict(f) for f in self.findings]}


@dataclass
class MaintenancePlan:
    """What needs work on one database, and why."""

    target: str
    thresholds: Thresholds
    tasks: list[Task] = field(default_factory=list)
    advice: list[Finding] = field(default_factory=list)  # needs a person, not `run`
    in_progress: list[Finding] = field(default_factory=list)  # index builds running now
    notes: list[str] = field(default_factory=list)
    exact: bool = False

    @property
    def clean(self) -> bool:
        return not self.tasks

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "clean": self.clean, "exact": self.exact,
                "thresholds": asdict(self.thresholds),
                "tasks": [t.as_dict() for t in self.tasks],
                "advice": [asdict(f) for f in self.advice],
                "in_progress": [asdict(f) for f in self.in_progress],
                "notes": self.notes}


@dataclass
class RunOptions:
    """How ``run()`` behaves."""

    jobs: int = 1
    lock_timeout: str = "3s"
    statement_timeout: str = "0"  # a VACUUM of a big table may rightly take hours
    retries: int = 5
    backoff: float = 0.5  # seconds before the first retry; doubles, capped at 10 s
    lock_wait: float | None = 0.0  # wait for another run's maintenance lock; None: no limit
    # VACUUM and ANALYZE sleep this long after each vacuum_cost_limit of work, as
    # autovacuum does by default (a manual VACUUM does not sleep at all): "0" = full speed.
    cost_delay: str = "2ms"
    dry_run: bool = False
    allow_vacuum_full: bool = False


@dataclass
class ProgressEvent:
    """What ``run()`` reports while it works (from worker threads, one call at a time)."""

    event: str  # waiting | start | progress | retry | done | failed | blocked | skipped
    index: int  # the task's position in the run (-1 for run-wide events)
    task: Task | None
    phase: str | None = None
    done: int | None = None
    total: int | None = None
    message: str | None = None


@dataclass
class Operation:
    """What happened to one task."""

    task: Task
    status: str  # done | failed | blocked | skipped | not run | planned (dry run)
    seconds: float = 0.0
    attempts: int = 0
    size_before: int | None = None
    size_after: int | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.task.action, "title": self.task.title,
                "schema": self.task.schema, "relation": self.task.relation,
                "table": self.task.table, "statements": self.task.statements,
                "lock": self.task.lock, "reasons": self.task.reasons, "status": self.status,
                "seconds": round(self.seconds, 3), "attempts": self.attempts,
                "size_before": self.size_before, "size_after": self.size_after,
                "error": self.error}


@dataclass
class RunSummary:
    """What ``run()`` did (or, dry, would do)."""

    target: str
    dry_run: bool
    jobs: int
    operations: list[Operation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    script: str | None = None  # dry run: the statements with their locks

    def _with(self, *statuses: str) -> list[Operation]:
        return [op for op in self.operations if op.status in statuses]

    @property
    def ok(self) -> bool:
        return not self._with("failed", "blocked", "not run")

    def raise_for_failures(self) -> None:
        """Raise ``MaintenanceFailed`` (exit 1) or, when every failure was a lock not
        granted in time, ``MaintenanceBlocked`` (exit 3); return when all went well."""
        failed = self._with("failed", "not run")
        blocked = self._with("blocked")
        if failed:
            raise MaintenanceFailed([f"{op.task.title}: {op.error}" for op in failed + blocked],
                                    len(self.operations))
        if blocked:
            raise MaintenanceBlocked([op.task.title for op in blocked], len(self.operations))

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "target": self.target, "dry_run": self.dry_run, "ok": self.ok, "jobs": self.jobs,
            "seconds": round(self.seconds, 3),
            "operations": [op.as_dict() for op in self.operations], "notes": self.notes}
        if self.script is not None:
            doc["script"] = self.script
        return doc


# -- the catalog ---------------------------------------------------------------------------

def _rows(conn: psycopg.Connection[Any], query: str,
          params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def _ident(conn: psycopg.Connection[Any], schema: str, name: str) -> str:
    from psycopg import sql

    return sql.Identifier(schema, name).as_string(conn)


def _statement(conn: psycopg.Connection[Any], template: str, schema: str, name: str) -> str:
    from psycopg import sql

    return sql.SQL(template).format(sql.Identifier(schema, name)).as_string(conn)


class _Catalog:
    """Tables and indexes of the user schemas, read once."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.tables = {int(r["oid"]): r for r in _rows(conn, sql_text("maintenance/tables.sql"))}
        self.indexes = {int(r["oid"]): r for r in _rows(conn, sql_text("maintenance/indexes.sql"))}

    def leaves(self, oid: int) -> list[int]:
        """The leaf partitions under a partitioned table (the table itself otherwise)."""
        if self.tables[oid]["relkind"] != "p":
            return [oid]
        return [o for o, r in self.tables.items()
                if r["relkind"] != "p" and oid in (r["ancestors"] or [])]

    def resolve(self, name: str, kind: str) -> int:
        """The oid of the ``kind`` ("table" or "index") named on the command line."""
        import psycopg

        try:
            row = self.conn.execute("SELECT c.oid, c.relkind FROM pg_class c "
                                    "WHERE c.oid = to_regclass(%s)", (name,)).fetchone()
        except psycopg.Error as exc:
            raise BadConfig(f"{kind} name {name!r}: {one_line(exc)}") from exc
        if row is None:
            raise BadConfig(f"no {kind} named {name!r} in this database")
        oid, relkind = int(row[0]), str(row[1])
        if kind == "table" and oid not in self.tables:
            hint = " (it is an index: use --index)" if relkind in ("i", "I") else ""
            raise BadConfig(f"{name!r} is not a table of the user schemas{hint}")
        if kind == "index" and oid not in self.indexes and relkind != "I":
            raise BadConfig(f"{name!r} is not an index of the user schemas")
        return oid


# -- planning ------------------------------------------------------------------------------

def _mb(value: float | None) -> str:
    if value is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover


def _ago(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "never"
    seconds = (now - then).total_seconds()
    if seconds >= 86_400:
        return f"{seconds / 86_400:.0f} day(s) ago"
    if seconds >= 3_600:
        return f"{seconds / 3_600:.0f} hour(s) ago"
    return f"{max(seconds, 0) / 60:.0f} minute(s) ago"


def _table_findings(row: dict[str, Any], th: Thresholds, now: datetime) -> dict[str, Finding]:
    """Findings about a leaf or regular table (or materialized view), by kind."""
    schema, name = row["schema"], row["name"]
    live, dead, changed = int(row["n_live_tup"]), int(row["n_dead_tup"]), int(
        row["n_mod_since_analyze"])
    found: dict[str, Finding] = {}
    dead_share = dead / max(live + dead, 1)
    if dead >= th.dead_min and dead_share >= th.dead_ratio:
        found["dead_tuples"] = Finding(
            "dead_tuples", schema, name,
            f"{dead:,} dead tuples ({dead_share:.0%} of rows); last vacuum "
            f"{_ago(now, row['last_vacuumed'])}",
            {"n_dead_tup": dead, "n_live_tup": live, "dead_ratio": round(dead_share, 4)})
    analyzed = row["last_analyzed"]
    changed_share = changed / max(live, 1)
    if analyzed is None:
        if max(live, changed) >= th.analyze_min:
            found["never_analyzed"] = Finding(
                "never_analyzed", schema, name,
                f"never analyzed; {live:,} rows without planner statistics",
                {"n_live_tup": live, "n_mod_since_analyze": changed})
    elif changed >= th.analyze_min and changed_share >= th.analyze_ratio:
        found["stale_statistics"] = Finding(
            "stale_statistics", schema, name,
            f"{changed:,} rows changed since the last analyze ({changed_share:.0%} of "
            f"{live:,}), {_ago(now, analyzed)}",
            {"n_mod_since_analyze": changed, "n_live_tup": live,
             "last_analyzed": analyzed})
    elif changed > 0 and (now - analyzed).total_seconds() >= th.stale_days * 86_400:
        found["stale_statistics"] = Finding(
            "stale_statistics", schema, name,
            f"last analyzed {_ago(now, analyzed)}, {changed:,} rows changed since",
            {"n_mod_since_analyze": changed, "last_analyzed": analyzed})
    for kind, age, limit in (("transaction ID", row["xid_age"], row["freeze_max_age"]),
                             ("multixact ID", row["mxid_age"], row["mxid_freeze_max_age"])):
        if age is None or not limit:
            continue
        share = int(age) / int(limit)
        if share >= th.wraparound_ratio and "wraparound" not in found:
            setting = ("autovacuum_freeze_max_age" if kind == "transaction ID"
                       else "autovacuum_multixact_freeze_max_age")
            found["wraparound"] = Finding(
                "wraparound", schema, name,
                f"{kind} age {int(age):,} is {share:.0%} of {setting} ({int(limit):,}): "
                "freeze it before autovacuum forces an uncancellable anti-wraparound vacuum",
                {"age": int(age), "limit": int(limit), "ratio": round(share, 6)})
    return found


def _parent_findings(row: dict[str, Any], th: Thresholds, now: datetime) -> list[Finding]:
    """Findings about a partitioned parent, judged against its leaf partitions."""
    schema, name = row["schema"], row["name"]
    rows = int(row["leaf_rows"] or 0)
    parts = int(row["leaf_count"] or 0)
    analyzed = row["last_analyzed"]
    if analyzed is None:
        if rows >= th.analyze_min:
            return [Finding(
                "partitioned_never_analyzed", schema, name,
                f"partitioned table never analyzed: autovacuum never analyzes partitioned "
                f"parents, so queries across its {parts} partitions ({rows:,} rows) are "
                "planned without statistics", {"leaf_rows": rows, "partitions": parts})]
        return []
    known = max(float(row["reltuples"]), 0.0)
    drift = abs(rows - known)
    if drift >= th.analyze_min and drift / max(known, 1.0) >= th.analyze_ratio:
        return [Finding(
            "partitioned_stale", schema, name,
            f"its statistics describe {known:,.0f} rows, its partitions now hold {rows:,} "
            f"(analyzed {_ago(now, analyzed)}; autovacuum never analyzes partitioned parents)",
            {"reltuples": known, "leaf_rows": rows})]
    leaf_analyzed = row["leaf_last_analyzed"]
    if (leaf_analyzed is not None and leaf_analyzed > analyzed
            and (now - analyzed).total_seconds() >= th.stale_days * 86_400):
        return [Finding(
            "partitioned_stale", schema, name,
            f"last analyzed {_ago(now, analyzed)}; its partitions changed and were analyzed "
            "since (autovacuum never analyzes partitioned parents)",
            {"last_analyzed": analyzed, "leaf_last_analyzed": leaf_analyzed})]
    return []


def _table_task(cat: _Catalog, oid: int, action: str, findings: list[Finding],
                analyze: bool = True) -> Task:
    row = cat.tables[oid]
    label = f"{row['schema']}.{row['name']}"
    templates = {"analyze": "ANALYZE {}",
                 "vacuum": "VACUUM (ANALYZE) {}" if analyze else "VACUUM {}",
                 "vacuum_freeze": "VACUUM (FREEZE, ANALYZE) {}" if analyze
                 else "VACUUM (FREEZE) {}",
                 "vacuum_full": "VACUUM (FULL, ANALYZE) {}" if analyze else "VACUUM (FULL) {}"}
    statement = _statement(cat.conn, templates[action], row["schema"], row["name"])
    mode = "ACCESS EXCLUSIVE" if action == "vacuum_full" else "SHARE UPDATE EXCLUSIVE"
    lock = f"{mode} on {label}"
    locked = {oid}
    if row["relkind"] == "p":
        lock += " and, in turn, on each of its partitions"
        locked.update(cat.leaves(oid))
    return Task(action, row["schema"], row["name"], row["name"], [statement], lock, findings,
                int(row["size_bytes"] or 0), frozenset(locked), row["relkind"] == "p",
                templates[action].removesuffix(" {}"))


def _index_task(cat: _Catalog, oid: int, action: str, findings: list[Finding]) -> Task:
    row = cat.indexes[oid]
    table = f"{row['table_schema']}.{row['table']}"
    if action == "reindex":
        statements = [_statement(cat.conn, "REINDEX INDEX CONCURRENTLY {}", row["schema"],
                                 row["name"])]
        lock = f"SHARE UPDATE EXCLUSIVE on {table} and the index"
    else:
        statements = [_statement(cat.conn, "DROP INDEX CONCURRENTLY IF EXISTS {}",
                                 row["schema"], row["name"])]
        lock = f"SHARE UPDATE EXCLUSIVE on {table}"
        if action == "rebuild_index":
            statements.append(_concurrently(str(row["definition"])))
    return Task(action, row["schema"], row["name"], row["table"], statements, lock, findings,
                int(row["size_bytes"] or 0), frozenset({int(row["table_oid"])}))


def _concurrently(definition: str) -> str:
    from .concurrent import build_concurrently

    try:
        return build_concurrently(definition)
    except ValueError as exc:
        raise WatotoError(f"cannot rebuild concurrently: {exc}") from exc


def _migration_running(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND classid = %s::oid AND objid = %s::oid AND objsubid = 2 AND pid <> pg_backend_pid()"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
        (LOCK_CLASS, LOCK_MIGRATE)).fetchone()
    return bool(row and row[0])


def plan(target: Target, thresholds: Thresholds | None = None, *, exact: bool = False,
         create_extension: bool = False) -> MaintenancePlan:
    """List what needs ANALYZE, VACUUM, REINDEX or an INVALID-index rebuild, and why.

    Reads only the statistics views and the catalog: takes no lock beyond ACCESS SHARE on
    catalogs and writes nothing, except ``CREATE EXTENSION IF NOT EXISTS pgstattuple`` when
    both ``exact`` and ``create_extension`` are given. With ``exact``, candidates the cheap
    estimate flagged (leaf tables and B-tree indexes only) are measured with pgstattuple,
    which reads each of them in full.
    """
    th = thresholds or Thresholds()
    with connect(target, application_name=APPLICATION) as conn:
        now: datetime = _rows(conn, "SELECT now() AS now")[0]["now"]
        cat = _Catalog(conn)
        result = MaintenancePlan(target.display, th, exact=exact)
        table_findings: dict[int, dict[str, Finding]] = {}
        parent_tasks: dict[int, Task] = {}
        for oid, trow in cat.tables.items():
            if trow["relkind"] == "p":
                about_parent = _parent_findings(trow, th, now)
                if about_parent:
                    parent_tasks[oid] = _table_task(cat, oid, "analyze", about_parent)
            else:
                table_findings[oid] = _table_findings(trow, th, now)

        table_bloat = _bloat_candidates(
            _rows(conn, sql_text("maintenance/table_bloat.sql")), th.table_bloat_ratio, th)
        index_bloat = _bloat_candidates(
            _rows(conn, sql_text("maintenance/index_bloat.sql")), th.index_bloat_ratio, th)
        if exact and (table_bloat or index_bloat):
            _confirm_exactly(conn, result, table_bloat, index_bloat, th, create_extension)

        tasks: list[Task] = []
        for oid, found in table_findings.items():
            trow = cat.tables[oid]
            bloat = table_bloat.get(oid)
            if "wraparound" in found:
                action = "vacuum_freeze"
            elif "dead_tuples" in found:
                action = "vacuum"
            elif found:
                action = "analyze"
            else:
                action = ""
            if bloat is not None:
                finding = Finding("table_bloat", trow["schema"], trow["name"], bloat[0],
                                  bloat[1])
                if action.startswith("vacuum"):
                    found["table_bloat"] = finding
                else:
                    finding.reason += ("; the free space is reusable but stays allocated: "
                                       "`maintain vacuum --full --yes` (ACCESS EXCLUSIVE) in "
                                       "a maintenance window, or pg_repack, would return it")
                    result.advice.append(finding)
            if not action:
                continue
            parent = next((p for p in trow["ancestors"] or [] if p in parent_tasks), None)
            if action == "analyze" and parent is not None:
                # The parent's ANALYZE analyzes each of its partitions as well.
                parent_tasks[parent].findings.extend(found.values())
                continue
            tasks.append(_table_task(cat, oid, action, list(found.values())))
        tasks.extend(parent_tasks.values())

        for oid, (reason, metrics) in index_bloat.items():
            irow = cat.indexes.get(oid)
            if irow is None or irow["exclusion"]:
                continue
            tasks.append(_index_task(cat, oid, "reindex", [
                Finding("index_bloat", irow["schema"], irow["name"], reason, metrics)]))

        tasks.extend(_invalid_index_tasks(conn, cat, result))
        tasks.sort(key=lambda t: (t.partitioned, _PRIORITY[t.action], t.schema, t.relation))
        result.tasks = tasks
    return result


def _bloat_candidates(rows: list[dict[str, Any]], ratio: float,
                      th: Thresholds) -> dict[int, tuple[str, dict[str, Any]]]:
    found: dict[int, tuple[str, dict[str, Any]]] = {}
    for row in rows:
        share, wasted = row["bloat_ratio"], row["bloat_bytes"]
        if share is None or wasted is None:
            continue
        if share >= ratio and wasted >= th.bloat_min_bytes:
            found[int(row["oid"])] = (
                f"estimated bloat {_mb(wasted)} ({share:.0%} of {_mb(row['size_bytes'])})",
                {"size_bytes": int(row["size_bytes"]), "bloat_bytes": int(wasted),
                 "bloat_ratio": round(float(share), 4), "fillfactor": int(row["fillfactor"]),
                 "source": "estimate", "relation": f"{row['schema']}.{row['name']}"})
    return found


def _confirm_exactly(conn: psycopg.Connection[Any], result: MaintenancePlan,
                     tables: dict[int, tuple[str, dict[str, Any]]],
                     indexes: dict[int, tuple[str, dict[str, Any]]], th: Thresholds,
                     create_extension: bool) -> None:
    """Measure estimated-bloat candidates with pgstattuple; drop those it does not confirm."""
    import psycopg
    from psycopg import sql

    def extension_schema() -> str | None:
        row = conn.execute("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
                           "ON n.oid = e.extnamespace WHERE e.extname = 'pgstattuple'"
                           ).fetchone()
        return str(row[0]) if row else None

    schema = extension_schema()
    if schema is None and create_extension:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        except psycopg.Error as exc:
            result.notes.append(f"exact bloat unavailable: CREATE EXTENSION pgstattuple "
                                f"failed: {one_line(exc)}; showing estimates")
            return
        schema = extension_schema()
    if schema is None:
        result.notes.append("exact bloat unavailable: the pgstattuple extension is not "
                            "installed in this database (allow creating it with "
                            "--create-extension); showing estimates")
        return
    table_query = sql.SQL("SELECT table_len, dead_tuple_len, free_space FROM {}(%s::regclass)"
                          ).format(sql.Identifier(schema, "pgstattuple"))
    index_query = sql.SQL("SELECT index_size, avg_leaf_density, leaf_pages FROM {}"
                          "(%s::regclass)").format(sql.Identifier(schema, "pgstatindex"))
    try:
        for oid, (_, metrics) in list(tables.items()):
            row = conn.execute(table_query, (oid,)).fetchone()
            assert row is not None
            length, dead, free = (int(v) for v in row)
            reserved = length * (100 - metrics["fillfactor"]) / 100
            wasted = max(dead + free - reserved, 0.0)
            share = wasted / length if length else 0.0
            _exact_verdict(result, tables, oid, share, wasted, length, th.table_bloat_ratio, th)
        for oid, (_, metrics) in list(indexes.items()):
            row = conn.execute(index_query, (oid,)).fetchone()
            assert row is not None
            size, density, leaves = int(row[0]), float(row[1]), int(row[2])
            if not leaves or density != density:  # no leaf pages, or NaN
                share = 0.0
            else:
                share = max(1 - density / metrics["fillfactor"], 0.0)
            _exact_verdict(result, indexes, oid, share, size * share, size,
                           th.index_bloat_ratio, th)
    except psycopg.Error as exc:
        result.notes.append(f"exact bloat unavailable: {one_line(exc)}; showing estimates")


def _exact_verdict(result: MaintenancePlan, found: dict[int, tuple[str, dict[str, Any]]],
                   oid: int, share: float, wasted: float, size: int, ratio: float,
                   th: Thresholds) -> None:
    reason, metrics = found[oid]
    exact = {"exact_bloat_bytes": int(wasted), "exact_bloat_ratio": round(share, 4),
             "source": "pgstattuple"}
    if share >= ratio and wasted >= th.bloat_min_bytes:
        found[oid] = (f"bloat {_mb(wasted)} ({share:.0%} of {_mb(size)}), measured by "
                      f"pgstattuple ({reason})", {**metrics, **exact})
    else:
        del found[oid]
        result.notes.append(f"{metrics['relation']}: {reason}, but pgstattuple measured "
                            f"only {share:.0%}: not bloated enough to act on")


def _invalid_index_tasks(conn: psycopg.Connection[Any], cat: _Catalog,
                         result: MaintenancePlan) -> list[Task]:
    """Tasks for INVALID indexes: drop leftovers, rebuild the rest; never a build running."""
    invalid = conn.execute(sql_text("engine/invalid_indexes.sql")).fetchall()
    if not invalid:
        return []
    by_name = {(r["schema"], r["name"]): oid for oid, r in cat.indexes.items()}
    migrating = _migration_running(conn)
    tasks: list[Task] = []
    for schema, name, table, building in invalid:
        oid = by_name.get((schema, name))
        if oid is None:
            continue
        if building:
            result.in_progress.append(Finding(
                "build_in_progress", schema, name,
                f"INVALID because a concurrent index build on {table} is running now: "
                "left alone"))
            continue
        if migrating:
            result.notes.append(f"INVALID index {schema}.{name} left alone: a migration run "
                                "holds the migration lock (`migrate` resumes its own builds)")
            continue
        row = cat.indexes[oid]
        if _LEFTOVER.search(name):
            copy = match.group(1) if (match := _LEFTOVER.search(name)) else "cc"
            tasks.append(_index_task(cat, oid, "drop_index", [Finding(
                "leftover_index", schema, name,
                f"INVALID _cc{copy} copy left by a failed REINDEX CONCURRENTLY on {table}: "
                "dropped")]))
        elif row["index_ancestors"]:
            tasks.append(_index_task(cat, oid, "reindex", [Finding(
                "invalid_index", schema, name,
                "INVALID partition of a partitioned index (a failed build): rebuilt in place "
                "with REINDEX INDEX CONCURRENTLY")]))
        else:
            tasks.append(_index_task(cat, oid, "rebuild_index", [Finding(
                "invalid_index", schema, name,
                "INVALID index (a failed CREATE INDEX CONCURRENTLY): unused by queries but "
                "still updated by every write; dropped and re-created concurrently")]))
    return tasks


# -- direct forms --------------------------------------------------------------------------

def _requested(cat: _Catalog, oid: int, asked: str | None) -> list[Finding]:
    row = cat.tables.get(oid) or cat.indexes[oid]
    reason = f"requested ({asked})" if asked else "requested (every table)"
    return [Finding("requested", row["schema"], row["name"], reason)]


def _resolve_tables(cat: _Catalog, tables: Sequence[str]) -> list[tuple[int, str | None]]:
    if not tables:
        return [(oid, None) for oid in cat.tables]
    return [(cat.resolve(name, "table"), f"--table {name}") for name in tables]


def analyze_tasks(target: Target, tables: Sequence[str] = ()) -> list[Task]:
    """Build ANALYZE tasks for the named tables (all tables when none are named).

    A partitioned table is analyzed through its parent, which samples and analyzes every
    partition too. Resolving names only reads the catalog.
    """
    with connect(target, application_name=APPLICATION) as conn:
        cat = _Catalog(conn)
        chosen = _resolve_tables(cat, tables)
        if not tables:  # every table once: top-level tables, partitions through their parent
            chosen = [(o, a) for o, a in chosen if not cat.tables[o]["is_partition"]]
        return _dedupe([_table_task(cat, oid, "analyze", _requested(cat, oid, asked))
                        for oid, asked in chosen])


def vacuum_tasks(target: Target, tables: Sequence[str] = (), *, full: bool = False,
                 freeze: bool = False, analyze: bool = True) -> list[Task]:
    """Build VACUUM tasks for the named tables (all tables when none are named).

    A partitioned table becomes one task per leaf partition. ``full`` builds
    ``VACUUM (FULL)``, which holds ACCESS EXCLUSIVE for the whole rewrite: ``run()``
    refuses it unless ``RunOptions.allow_vacuum_full`` is set.
    """
    action = "vacuum_full" if full else "vacuum_freeze" if freeze else "vacuum"
    with connect(target, application_name=APPLICATION) as conn:
        cat = _Catalog(conn)
        tasks = []
        for oid, asked in _resolve_tables(cat, tables):
            for leaf in cat.leaves(oid):
                tasks.append(_table_task(cat, leaf, action, _requested(cat, leaf, asked),
                                         analyze=analyze))
        return _dedupe(tasks)


def reindex_tasks(target: Target, tables: Sequence[str] = (),
                  indexes: Sequence[str] = ()) -> list[Task]:
    """Build one REINDEX INDEX CONCURRENTLY task per index of the named tables and indexes.

    Partitioned tables and indexes expand to their partitions' indexes. With neither
    tables nor indexes named, every index. INVALID indexes are rebuilt (or, for a
    ``_ccnew`` leftover, dropped) as ``plan()`` would; indexes of exclusion constraints,
    which PostgreSQL cannot reindex concurrently, and builds in progress are refused.
    """
    with connect(target, application_name=APPLICATION) as conn:
        cat = _Catalog(conn)
        chosen: list[tuple[int, str | None]] = []
        for name in tables:
            oid = cat.resolve(name, "table")
            chosen.extend((i, f"--table {name}") for i, r in cat.indexes.items()
                          if r["table_oid"] == oid or oid in (r["table_ancestors"] or []))
        for name in indexes:
            oid = cat.resolve(name, "index")
            chosen.extend((i, f"--index {name}") for i, r in cat.indexes.items()
                          if i == oid or oid in (r["index_ancestors"] or []))
        if not tables and not indexes:
            chosen = [(i, None) for i in cat.indexes]
        tasks = []
        for oid, asked in chosen:
            row = cat.indexes[oid]
            label = f"{row['schema']}.{row['name']}"
            if row["exclusion"]:
                raise BadConfig(f"{label} backs an exclusion constraint: PostgreSQL cannot "
                                "rebuild it concurrently")
            if row["build_in_progress"] and not row["valid"]:
                if asked and asked.startswith("--index"):
                    raise Refused(f"{label} is being built by another session right now")
                continue  # not ours to touch
            found = _requested(cat, oid, asked)
            if row["valid"]:
                tasks.append(_index_task(cat, oid, "reindex", found))
            elif _LEFTOVER.search(row["name"]):
                tasks.append(_index_task(cat, oid, "drop_index", found))
            elif row["index_ancestors"]:
                tasks.append(_index_task(cat, oid, "reindex", found))
            else:
                tasks.append(_index_task(cat, oid, "rebuild_index", found))
        return _dedupe(tasks)


def _dedupe(tasks: list[Task]) -> list[Task]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for task in tasks:
        key = (task.action, task.schema, task.relation)
        if key not in seen:
            seen.add(key)
            out.append(task)
    return out


# -- dry run -------------------------------------------------------------------------------

def render_script(tasks: Sequence[Task], options: RunOptions | None = None,
                  target: str | None = None) -> str:
    """Return the statements of ``tasks`` as a commented SQL script with their locks."""
    options = options or RunOptions()
    on = f" on {target}" if target else ""
    lines = [f"-- watoto-schema maintain: {len(tasks)} operation(s){on} (dry run: nothing "
             "was run)",
             "-- Each statement runs on its own in autocommit (none can run in a "
             "transaction block), after",
             f"-- SET lock_timeout = '{options.lock_timeout}'; SET statement_timeout = "
             f"'{options.statement_timeout}';",
             f"-- SET vacuum_cost_delay = '{options.cost_delay}'; "
             "SET max_parallel_maintenance_workers = 0;",
             f"-- and is retried up to {options.retries} times, with backoff, when a lock "
             "is not granted in time."]
    if not tasks:
        lines.append("-- nothing to do")
    for number, task in enumerate(tasks, 1):
        lines.append("")
        lines.append(f"-- {number}. {task.title}")
        for reason in task.reasons:
            lines.append(f"--    why: {reason}")
        lines.append(f"--    lock: {task.lock}: {LOCK_EFFECTS[task.action]}")
        lines.extend(f"{statement};" for statement in task.statements)
    return "\n".join(lines) + "\n"


# -- running -------------------------------------------------------------------------------

def _lock_holder(conn: psycopg.Connection[Any]) -> str:
    rows = conn.execute(sql_text("maintenance/lock_holder.sql"),
                        {"classid": LOCK_CLASS, "objid": LOCK_MAINTAIN}).fetchall()
    if not rows:
        return "holder already gone"
    pid, app, addr, age = rows[0]
    return f"pid {pid}, application {app}, from {addr or 'local socket'}, connected {age}"


@contextmanager
def maintenance_lock(conn: psycopg.Connection[Any], wait: float | None,
                     on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the maintenance lock, a session-level advisory lock, for the block.

    ``wait`` 0 refuses at once when another run holds it (``MaintenanceLockHeld``, exit 3),
    a number polls that many seconds, None waits as long as it takes. The lock dies with
    the session: a run killed with ``kill -9`` leaves nothing to unlock.
    """
    started = time.monotonic()
    told = False
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                           (LOCK_CLASS, LOCK_MAINTAIN)).fetchone()
        if row and row[0]:
            break
        waited = time.monotonic() - started
        if wait is not None and waited >= wait:
            raise MaintenanceLockHeld(wait, _lock_holder(conn))
        if not told and on_wait is not None:
            on_wait(_lock_holder(conn))
            told = True
        time.sleep(0.2)
    try:
        yield
    finally:
        if not conn.closed and not conn.broken:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, LOCK_MAINTAIN))


def run(target: Target, plan_or_tasks: MaintenancePlan | Sequence[Task],
        options: RunOptions | None = None,
        on_progress: Callable[[ProgressEvent], None] | None = None) -> RunSummary:
    """Execute a plan's tasks (or any tasks), or with ``dry_run`` only render them.

    Holds the maintenance lock for the whole run (``options.lock_wait``). Every statement
    runs in autocommit under ``lock_timeout`` / ``statement_timeout``; a lock not granted
    in time (or a deadlock) is retried with backoff, and a failed REINDEX CONCURRENTLY's
    ``_ccnew`` copy is dropped before the retry. Up to ``options.jobs`` connections work in
    parallel, capped by the free connection slots and ``MAX_JOBS``; two tasks that lock the
    same table never run at the same time. Refuses ``VACUUM FULL`` tasks unless
    ``allow_vacuum_full``. Operation failures are reported in the summary, not raised.
    """
    options = options or RunOptions()
    tasks = list(plan_or_tasks.tasks if isinstance(plan_or_tasks, MaintenancePlan)
                 else plan_or_tasks)
    started = time.monotonic()
    if options.jobs < 1:
        raise BadConfig("--jobs must be at least 1")
    if options.dry_run:
        return RunSummary(target.display, True, options.jobs,
                          [Operation(t, "planned") for t in tasks],
                          seconds=time.monotonic() - started,
                          script=render_script(tasks, options, target.display))
    full = [t.title for t in tasks if t.action == "vacuum_full"]
    if full and not options.allow_vacuum_full:
        raise Refused(f"VACUUM FULL takes an ACCESS EXCLUSIVE lock on each table for the "
                      f"whole rewrite, stopping every read and write of it ({full[0]}"
                      f"{' and more' if len(full) > 1 else ''}); nothing was run: pass "
                      "--full --yes to run it anyway")
    emit = _Emitter(on_progress)
    main = connect(target, application_name=APPLICATION)
    try:
        _set_timeouts(main, options)
        with maintenance_lock(main, options.lock_wait,
                              lambda holder: emit(ProgressEvent(
                                  "waiting", -1, None,
                                  message=f"waiting for another maintenance run ({holder})"))):
            jobs, notes = _jobs(main, options.jobs, len(tasks))
            runner = _Runner(target, main, tasks, options, emit)
            operations, opened = runner.run(jobs)
            if opened < jobs:
                notes.append(f"only {opened} of {jobs} worker connection(s) could be opened")
    finally:
        main.close()
    return RunSummary(target.display, False, jobs, operations, notes,
                      time.monotonic() - started)


def _set_timeouts(conn: psycopg.Connection[Any], options: RunOptions) -> None:
    """Session settings of a maintenance connection: timeouts, throttling, one CPU each."""
    import psycopg

    try:
        conn.execute("SELECT set_config('lock_timeout', %s, false), "
                     "set_config('statement_timeout', %s, false), "
                     "set_config('vacuum_cost_delay', %s, false)",
                     (options.lock_timeout, options.statement_timeout, options.cost_delay))
    except psycopg.Error as exc:
        raise BadConfig(f"lock timeout, statement timeout or cost delay: {one_line(exc)}"
                        ) from exc
    # Each job is one backend on one CPU: index builds start no parallel workers, so that
    # --jobs bounds the CPUs maintenance takes from the application.
    conn.execute("SET max_parallel_maintenance_workers = 0")
    # A killed client's statement is cancelled within a second, even mid-VACUUM.
    conn.execute("SET client_connection_check_interval = 1000")


def _jobs(conn: psycopg.Connection[Any], requested: int, tasks: int) -> tuple[int, list[str]]:
    """Workers to start: as asked, but within the free connection slots (with slack)."""
    row = conn.execute(sql_text("maintenance/connection_slots.sql")).fetchone()
    assert row is not None
    max_connections, reserved, in_use = (int(v) for v in row)
    slack = max(3, max_connections // 10)  # leave room for the application to connect
    # Worker 0 is the connection that holds the lock; one more watches progress.
    free = max_connections - reserved - in_use - slack - 1
    allowed = max(1, min(requested, MAX_JOBS, 1 + max(free, 0)))
    notes = []
    if allowed < requested:
        why = (f"at most {MAX_JOBS} workers" if requested > MAX_JOBS and allowed == MAX_JOBS
               else f"{max_connections - reserved - in_use} connection slot(s) free of "
               f"{max_connections}, keeping {slack} for the application")
        notes.append(f"--jobs {requested} reduced to {allowed}: {why}")
    return max(1, min(allowed, tasks)), notes


class _Emitter:
    """Call the progress callback from any thread, one call at a time."""

    def __init__(self, callback: Callable[[ProgressEvent], None] | None) -> None:
        self.callback = callback
        self.lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        if self.callback is not None:
            with self.lock:
                self.callback(event)


class _Runner:
    """Workers pulling tasks whose tables no running task holds, plus a progress watcher."""

    def __init__(self, target: Target, main: psycopg.Connection[Any], tasks: list[Task],
                 options: RunOptions, emit: _Emitter) -> None:
        self.target = target
        self.main = main
        self.tasks = tasks
        self.options = options
        self.emit = emit
        self.pending = list(range(len(tasks)))
        self.running: dict[int, frozenset[int]] = {}
        self.cond = threading.Condition()
        self.stop = threading.Event()
        self.results: list[Operation | None] = [None] * len(tasks)
        self.busy: dict[int, int] = {}  # backend pid -> task index (for progress)

    def run(self, jobs: int) -> tuple[list[Operation], int]:
        conns = [self.main]
        try:
            for _ in range(jobs - 1):
                try:
                    extra = connect(self.target, application_name=APPLICATION)
                    _set_timeouts(extra, self.options)
                except WatotoError:
                    break
                conns.append(extra)
            threads = [threading.Thread(target=self._worker, args=(c,), daemon=True)
                       for c in conns]
            watcher = _Watcher(self.target, self) if self.emit.callback and self.tasks else None
            for thread in threads:
                thread.start()
            try:
                while any(t.is_alive() for t in threads):
                    for thread in threads:
                        thread.join(0.2)
            except BaseException:
                self.stop.set()
                with self.cond:
                    self.cond.notify_all()
                for conn in conns:
                    conn.cancel_safe()
                for thread in threads:
                    thread.join(10)
                raise
            finally:
                if watcher:
                    watcher.close()
        finally:
            for conn in conns[1:]:
                conn.close()
        operations = [op if op is not None else Operation(task, "not run",
                                                          error="no worker left to run it")
                      for op, task in zip(self.results, self.tasks, strict=True)]
        return operations, len(conns)

    def _next(self) -> int | None:
        with self.cond:
            while True:
                if self.stop.is_set() or not self.pending:
                    return None
                held = frozenset().union(*self.running.values())
                for position, index in enumerate(self.pending):
                    locks = self.tasks[index].lock_set
                    if not locks & held:
                        del self.pending[position]
                        self.running[index] = locks
                        return index
                self.cond.wait()

    def _finish(self, index: int) -> None:
        with self.cond:
            del self.running[index]
            self.cond.notify_all()

    def _worker(self, conn: psycopg.Connection[Any]) -> None:
        warnings: list[str] = []

        def on_notice(diag: psycopg.errors.Diagnostic) -> None:
            if diag.severity_nonlocalized == "WARNING" and diag.message_primary:
                warnings.append(diag.message_primary)

        conn.add_notice_handler(on_notice)
        try:
            self._work(conn, warnings)
        finally:
            conn.remove_notice_handler(on_notice)

    def _work(self, conn: psycopg.Connection[Any], warnings: list[str]) -> None:
        while (index := self._next()) is not None:
            warnings.clear()
            try:
                self.results[index] = self._execute(conn, index, warnings)
            except Exception as exc:  # a bug or a lost connection: this task failed
                self.results[index] = Operation(self.tasks[index], "failed",
                                                error=one_line(exc))
            finally:
                self._finish(index)
            if conn.broken or conn.closed:
                return

    def _execute(self, conn: psycopg.Connection[Any], index: int,
                 warnings: list[str]) -> Operation:
        import psycopg

        task = self.tasks[index]
        op = Operation(task, "done")
        skip = _not_needed(conn, task)
        if skip:
            op.status, op.error = "skipped", skip
            self.emit(ProgressEvent("skipped", index, task, message=skip))
            return op
        op.size_before = _size(conn, task)
        pid = conn.info.backend_pid
        self.busy[pid] = index
        self.emit(ProgressEvent("start", index, task))
        started = time.monotonic()
        try:
            while True:
                op.attempts += 1
                try:
                    for statement in task.statements:
                        conn.execute(statement)  # rendered by psycopg
                    # VACUUM and ANALYZE of a table the role may not maintain only warn.
                    skipped = [w for w in warnings if "skipping" in w]
                    if skipped:
                        op.status, op.error = "skipped", skipped[0]
                    break
                except psycopg.Error as exc:
                    if conn.broken:
                        op.status, op.error = "failed", one_line(exc)
                        break
                    if task.action == "reindex":
                        _drop_leftovers(conn, task)
                    retryable = exc.sqlstate in _RETRYABLE
                    if retryable and op.attempts <= self.options.retries \
                            and not self.stop.is_set():
                        delay = backoff_delay(self.options.backoff, op.attempts - 1)
                        what = ("a deadlock" if exc.sqlstate == DEADLOCK_DETECTED else
                                f"lock not granted within {self.options.lock_timeout}")
                        self.emit(ProgressEvent(
                            "retry", index, task,
                            message=f"{what}; retry {op.attempts}/{self.options.retries} "
                            f"in {delay:g}s"))
                        if not self.stop.wait(delay):
                            continue
                    op.status = "blocked" if retryable else "failed"
                    op.error = one_line(exc)
                    break
        finally:
            self.busy.pop(pid, None)
        op.seconds = time.monotonic() - started
        if op.status == "skipped":
            self.emit(ProgressEvent("skipped", index, task, message=op.error))
        elif op.status == "done":
            op.size_after = _size(conn, task) if task.action != "drop_index" else 0
            self.emit(ProgressEvent("done", index, task))
        else:
            self.emit(ProgressEvent(op.status, index, task, message=op.error))
        return op


class _Watcher:
    """Poll the progress views for the workers' backends and report what they do."""

    def __init__(self, target: Target, runner: _Runner) -> None:
        self.runner = runner
        self.conn = connect(target, application_name=APPLICATION + " (progress)")
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        query = sql_text("maintenance/progress.sql")
        while not self.done.wait(0.5):
            busy = dict(self.runner.busy)
            if not busy:
                continue
            try:
                rows = _rows(self.conn, query, {"pids": list(busy)})
            except Exception:
                return
            for row in rows:
                index = busy.get(row["pid"])
                if index is not None:
                    done, total = row["done"], row["total"]
                    self.runner.emit(ProgressEvent(
                        "progress", index, self.runner.tasks[index], phase=row["phase"],
                        done=None if done is None else int(done),
                        total=None if total is None else int(total)))

    def close(self) -> None:
        self.done.set()
        self.thread.join(5)
        self.conn.close()


def _size(conn: psycopg.Connection[Any], task: Task) -> int | None:
    row = conn.execute(sql_text("maintenance/relation_size.sql"),
                       {"name": _ident(conn, task.schema, task.relation)}).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _not_needed(conn: psycopg.Connection[Any], task: Task) -> str | None:
    """Why a planned task must not run now (the database changed since the plan), if so."""
    row = conn.execute(
        "SELECT c.oid, x.indisvalid, EXISTS (SELECT 1 FROM pg_stat_progress_create_index p "
        "WHERE p.relid = x.indrelid OR p.index_relid = x.indexrelid) "
        "FROM pg_class c LEFT JOIN pg_index x ON x.indexrelid = c.oid "
        "WHERE c.oid = to_regclass(%s)", (_ident(conn, task.schema, task.relation),)
    ).fetchone()
    if row is None:
        return "already gone"
    if task.action in ("rebuild_index", "drop_index"):
        if row[1]:
            return "the index is valid now"
        if row[2]:
            return "a concurrent index build is running on its table now"
        if _migration_running(conn):
            return "a migration run holds the migration lock"
    return None


def _drop_leftovers(conn: psycopg.Connection[Any], task: Task) -> None:
    """Drop the INVALID ``_ccnew``/``_ccold`` copies a failed REINDEX CONCURRENTLY left.

    Best effort: what cannot be dropped now shows up in the next plan.
    """
    import psycopg

    base = task.relation[:40]
    for schema, name, table, building in conn.execute(sql_text("engine/invalid_indexes.sql")):
        if (schema, table) == (task.schema, task.table) and not building \
                and _LEFTOVER.search(name) and name.startswith(base):
            try:
                conn.execute(_statement(conn, "DROP INDEX CONCURRENTLY IF EXISTS {}", schema,
                                        name))
            except psycopg.Error:
                return

