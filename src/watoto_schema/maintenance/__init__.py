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

from ..errors import MaintenanceBlocked, MaintenanceFailed, MaintenanceLockHeld
from ..migrate import LOCK_CLASS, LOCK_MIGRATE
from .model import (
    APPLICATION,
    DEADLOCK_DETECTED,
    LOCK_EFFECTS,
    LOCK_MAINTAIN,
    MAX_JOBS,
    Finding,
    MaintenancePlan,
    Operation,
    Pacing,
    ProgressEvent,
    RunOptions,
    RunSummary,
    Task,
    Thresholds,
)
from .plan import (
    analyze_tasks,
    plan,
    reindex_tasks,
    render_script,
    vacuum_tasks,
)
from .run import (
    maintenance_lock,
    run,
)

__all__ = [
    "LOCK_CLASS",
    "LOCK_MIGRATE",
    "MaintenanceBlocked",
    "MaintenanceFailed",
    "MaintenanceLockHeld",
    "APPLICATION",
    "DEADLOCK_DETECTED",
    "Finding",
    "LOCK_EFFECTS",
    "LOCK_MAINTAIN",
    "MAX_JOBS",
    "MaintenancePlan",
    "Operation",
    "Pacing",
    "ProgressEvent",
    "RunOptions",
    "RunSummary",
    "Task",
    "Thresholds",
    "analyze_tasks",
    "maintenance_lock",
    "plan",
    "reindex_tasks",
    "render_script",
    "run",
    "vacuum_tasks",
]
