"""Apply, roll back, verify and report versioned migrations.

Migration files follow yoyo-migrations' format and rules (``sources`` reads them without
importing yoyo); yoyo's own tables are kept, so plain yoyo still reads what we record, and
yoyo splits non-transactional migrations into statements. Around that this module adds
what yoyo lacks (``docs/decisions/0005-migration-engine.md``):

* a transactional migration, its ``schema_migrations`` row, yoyo's bookkeeping and our
  history row (content checksums, who, how long) commit in **one** transaction;
* a session-level advisory lock serialises concurrent runs and dies with its session,
  so a runner killed with ``kill -9`` leaves nothing to unlock;
* every migration runs under ``lock_timeout`` and ``statement_timeout``; a lock not
  granted in time rolls the migration back and retries it with backoff, then stops
  naming the blocking session;
* ``-- transactional: false`` migrations run statement by statement in autocommit,
  resumable after a failure or a kill (see ``concurrent``);
* an applied migration whose file was edited stops ``migrate`` until ``repair``.

``status`` and ``verify`` only read: they never create tables and never wait on the lock.
"""

from typing import TYPE_CHECKING

from ..lazy import exports

if TYPE_CHECKING:  # the names below load on first use (``__getattr__``)
    from .history import read_applied, status, verify
    from .model import (
        HISTORY,
        LEDGER,
        LOCK_CLASS,
        LOCK_MIGRATE,
        YOYO_TABLE,
        AppliedState,
        InvalidIndex,
        RunOptions,
        RunResult,
        StatusReport,
        VerifyReport,
        VersionState,
    )
    from .operations import (
        _up_to_date,
        apply_versions,
        baseline,
        migrate,
        new,
        repair,
        rollback,
    )
    from .runner import YOYO_SCHEMA_VERSION, _backend_class, migration_lock

_LAZY = {
    "read_applied": ".history",
    "status": ".history",
    "verify": ".history",
    "HISTORY": ".model",
    "LEDGER": ".model",
    "LOCK_CLASS": ".model",
    "LOCK_MIGRATE": ".model",
    "YOYO_TABLE": ".model",
    "AppliedState": ".model",
    "InvalidIndex": ".model",
    "RunOptions": ".model",
    "RunResult": ".model",
    "StatusReport": ".model",
    "VerifyReport": ".model",
    "VersionState": ".model",
    "_up_to_date": ".operations",
    "apply_versions": ".operations",
    "baseline": ".operations",
    "migrate": ".operations",
    "new": ".operations",
    "repair": ".operations",
    "rollback": ".operations",
    "YOYO_SCHEMA_VERSION": ".runner",
    "_backend_class": ".runner",
    "migration_lock": ".runner",
}

__all__ = [
    "HISTORY", "LEDGER", "LOCK_CLASS", "LOCK_MIGRATE", "YOYO_SCHEMA_VERSION", "YOYO_TABLE",
    "AppliedState", "InvalidIndex", "RunOptions", "RunResult", "StatusReport", "VerifyReport",
    "VersionState", "_backend_class", "_up_to_date", "apply_versions", "baseline", "migrate",
    "migration_lock", "new", "read_applied", "repair", "rollback", "status", "verify",
]


__getattr__ = exports(__name__, _LAZY, globals())
