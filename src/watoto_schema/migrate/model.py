"""What the engine reads and reports: its tables, options and result objects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..sources import MigrationFile

if TYPE_CHECKING:
    import psycopg

YOYO_TABLE = "_yoyo_migration"
LEDGER = "schema_migrations"
HISTORY = "watoto_migration_history"
ONLINE_STATE = "watoto_online_migration"  # the online migration in progress (migrate.online)
# pg_advisory_lock(classid, objid): one lock per database for migration runs.
LOCK_CLASS = 0x5741_544F  # "WATO"
LOCK_MIGRATE = 1


@dataclass
class RunOptions:
    """How a run behaves; the files' own headers override the two timeouts."""

    lock_timeout: str = "3s"
    statement_timeout: str = "30min"
    retries: int = 5
    backoff: float = 0.5  # seconds before the first retry; doubles, capped at 10 s
    lock_wait: float = 60.0  # how long to wait for another run's migration lock
    # Called on the run's connection after each migration committed (e.g. waiting for the
    # standbys to replay it); an error it raises ends the run, that migration kept.
    after_each: Callable[[psycopg.Connection[Any], str], None] | None = None
    # Called before each statement of a non-transactional migration (e.g. waiting while the
    # standbys lag: big concurrent index builds make them fall further behind).
    before_concurrent: Callable[[psycopg.Connection[Any], str], None] | None = None
    # Called with every migration file and those about to be applied, before the first one
    # runs (in a dry run too); it may raise to refuse the run (the lint gate, #14).
    before_apply: Callable[[list[MigrationFile], list[MigrationFile]], None] | None = None
    # Online (`-- online: true`) migrations (docs/online.md).
    online: bool = True  # False: run them as plain transactions (expected schemas, templates)
    complete: bool = False  # `migrate --complete`: contract the active online migration
    allow_unsafe: bool = False  # run a migration that cannot run online as a plain one
    online_lock_timeout: str = "100ms"  # each online step waits this long for its locks...
    online_retries: int = 50  # ...this many times, with backoff from online_backoff (max 2 s)
    online_backoff: float = 0.05
    online_deadlock_timeout: str = "40ms"  # superuser: autovacuum in the way gives way
    batch_rows: int = 1000  # backfill rows per batch
    batch_pause: float = 0.0  # seconds between backfill batches

    def settings_for(self, migration: MigrationFile) -> dict[str, str]:
        return {
            "lock_timeout": migration.settings.get("lock_timeout", self.lock_timeout),
            "statement_timeout": migration.settings.get("statement_timeout",
                                                        self.statement_timeout),
        }


@dataclass
class AppliedState:
    """What the database records about one applied (or half-applied) migration."""

    version: str
    applied_at: datetime | None
    state: str  # "applied" | "running" (a non-transactional migration not finished)
    checksum: str | None  # None: applied before history existed (or by plain yoyo)
    rollback_checksum: str | None
    statements_done: int
    applied_by: str | None
    duration_ms: int | None


@dataclass
class VersionState:
    """One migration as ``status`` reports it."""

    version: str
    state: str  # applied | pending | partial | edited | missing
    applied_at: datetime | None
    transactional: bool | None
    applied_by: str | None = None
    duration_ms: int | None = None
    detail: str | None = None


@dataclass
class InvalidIndex:
    schema: str
    index: str
    table: str
    build_in_progress: bool


@dataclass
class StatusReport:
    target: str
    versions: list[VersionState]
    invalid_indexes: list[InvalidIndex] = field(default_factory=list)
    online: Any = None  # an online migration in progress (migrate.online.OnlineState)

    def _with(self, *states: str) -> list[str]:
        return [v.version for v in self.versions if v.state in states]

    @property
    def applied(self) -> list[str]:
        return self._with("applied", "edited")

    @property
    def pending(self) -> list[str]:
        return self._with("pending")

    @property
    def partial(self) -> list[str]:
        return self._with("partial")


@dataclass
class RunResult:
    """What ``migrate``, ``rollback`` or ``repair`` did (or, dry, would do)."""

    direction: str  # "apply" | "rollback" | "repair" | "baseline"
    target: str
    done: list[str] = field(default_factory=list)
    seconds: float = 0.0
    retries: int = 0
    sql: str | None = None  # dry run: the exact script
    online: Any = None  # the online migration left active (migrate.online.OnlineState)
    aborted: str | None = None  # an online migration whose interrupted abort was finished


@dataclass
class VerifyReport:
    target: str
    edited: list[str] = field(default_factory=list)
    rollback_edited: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)
    unrecorded: list[str] = field(default_factory=list)  # applied without a checksum

    @property
    def clean(self) -> bool:
        return not (self.edited or self.rollback_edited or self.missing or self.pending
                    or self.partial)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
