"""What maintenance plans and runs are made of: thresholds, findings, tasks, options,
progress events and the run's summary; and the locks each statement takes."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import (
    MaintenanceBlocked,
    MaintenanceFailed,
)
from ..retry import LOCK_NOT_AVAILABLE

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
    # The latency guard (#21): a probe times a small read every 100 ms from its own
    # connection; before each operation the run waits while the probe's p90 over the last
    # second is above the threshold: ``pause_above_ms``, or ``pause_above_factor`` times
    # the probe's p90 measured before the first operation. Both None: no guard. The pauses
    # add up to at most ``max_pause`` seconds; then the run goes on without pausing.
    pause_above_ms: float | None = None
    pause_above_factor: float | None = None
    max_pause: float = 600.0
    dry_run: bool = False
    allow_vacuum_full: bool = False
    # Called on the worker's connection before each operation that writes much WAL (all
    # but ANALYZE), e.g. waiting while the standbys lag; an error it raises stops the run:
    # nothing more starts, what ran stays done.
    before_heavy: Callable[[psycopg.Connection[Any], Task], None] | None = None


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
    pacing: Pacing | None = None  # the latency guard's account, when it ran

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
        if self.pacing is not None:
            doc["pacing"] = self.pacing.as_dict()
        return doc


def pause_threshold(text: str) -> tuple[float | None, float | None]:
    """``--pause-above``: ``off``, milliseconds (``5``, ``2.5ms``) or a factor of the
    probe's latency before the run (``2x``); returns (ms, factor), both None for off."""
    from ..errors import BadConfig

    value = text.strip().lower()
    if value in ("off", "none", "no"):
        return None, None
    try:
        if value.endswith("x"):
            factor = float(value[:-1])
            if factor <= 0 or factor != factor:
                raise ValueError
            return None, factor
        ms = float(value.removesuffix("ms"))
        if ms < 0 or ms != ms:
            raise ValueError
        return ms, None
    except ValueError:
        raise BadConfig(f"--pause-above: {text!r} is not off, a number of milliseconds "
                        "(>= 0) or a factor like 2x") from None


@dataclass
class Pacing:
    """What the latency guard did: its threshold and the pauses it made."""

    threshold_ms: float
    baseline_ms: float | None  # the probe's p90 before the first operation
    max_pause: float  # seconds of pauses allowed in all
    pauses: int = 0
    paused_seconds: float = 0.0
    budget_spent: bool = False  # the pauses reached max_pause: the rest ran unpaused
    probes: int = 0
    probe_max_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"guard": True, "threshold_ms": round(self.threshold_ms, 3),
                "baseline_ms": None if self.baseline_ms is None
                else round(self.baseline_ms, 3),
                "max_pause": self.max_pause, "pauses": self.pauses,
                "paused_seconds": round(self.paused_seconds, 3),
                "budget_spent": self.budget_spent, "probes": self.probes,
                "probe_max_ms": round(self.probe_max_ms, 3)}


