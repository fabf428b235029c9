"""Invalidate, after each migration commits, the cached families its tables feed.

``migrate`` gets this as a ``RunOptions.after_each`` hook chained after any hook already
there (``--wait-replicas``: the standbys replay the migration first, so a read from a
lagging standby cannot put a row of the old shape back into the cache after it was
invalidated). Never before the commit: until then the application still reads the old shape,
and a cache emptied early refills with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CacheInvalidationFailed, CacheUnreachable, WatotoError
from .connection import CacheTarget
from .policy import CachePolicy
from .tables import Relations, changed_tables, from_catalog, from_files

if TYPE_CHECKING:
    import psycopg
    import redis

    from ..migrate import RunOptions
    from ..sources import MigrationFile

Hook = Callable[["psycopg.Connection[Any]", str], None]


@dataclass
class MigrationCache:
    """One migration's effect on the cache: its tables, their families, keys removed."""

    version: str
    tables: list[str]
    families: list[str]
    removed: dict[str, int] = field(default_factory=dict)
    opaque: list[str] = field(default_factory=list)  # statements whose tables are unknown
    invalidated: bool = False  # False: Redis was unreachable, or a dry run

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "tables": self.tables, "families": self.families,
                "removed": self.removed, "opaque": self.opaque,
                "invalidated": self.invalidated}


@dataclass
class CacheRun:
    """Every migration's entry, and the error that kept Redis from being invalidated."""

    target: str
    migrations: list[MigrationCache] = field(default_factory=list)
    error: str | None = None

    @property
    def missed(self) -> list[str]:
        """Families that should have been invalidated but were not."""
        return sorted({f for m in self.migrations if not m.invalidated for f in m.families})

    @property
    def missed_tables(self) -> list[str]:
        return sorted({t for m in self.migrations if not m.invalidated and m.families
                       for t in m.tables})


class Invalidator:
    """The ``after_each`` hook: find the migration's tables, invalidate their families.

    Redis unreachable: the migration stays applied (it committed); the run carries on and
    the families are reported as missed, unless ``require`` is set, which ends the run with
    ``CacheInvalidationFailed`` (exit 1). Redis is not tried again after it failed once.
    """

    def __init__(self, target: CacheTarget, policy: CachePolicy, extra_dirs: Sequence[Path],
                 *, require: bool = False, on_event: Callable[[str], None] | None = None) -> None:
        self.target = target
        self.policy = policy
        self.extra_dirs = tuple(extra_dirs)
        self.require = require
        self.on_event = on_event
        self.run = CacheRun(target.display)
        self._files: dict[str, MigrationFile] | None = None
        self._relations: Relations | None = None
        self._client: redis.Redis | None = None

    def files(self) -> dict[str, MigrationFile]:
        if self._files is None:
            from .. import sources

            self._files = {m.version: m for m in
                           sources.read(sources.migration_dirs(self.extra_dirs))}
        return self._files

    def plan(self, conn: psycopg.Connection[Any] | None, version: str) -> MigrationCache:
        """Which families ``version`` affects; reads the catalog (after its commit) if given."""
        if self._relations is None:
            self._relations = from_files(list(self.files().values()))
        known = Relations(dict(self._relations.views), dict(self._relations.parents))
        if conn is not None:
            known.update(from_catalog(conn))
        migration = self.files()[version]
        tables, opaque = changed_tables(migration.sql("apply"), known)
        families = [f.name for f in self.policy.families_for(tables)]
        return MigrationCache(version, sorted(tables), families, opaque=opaque)

    def __call__(self, conn: psycopg.Connection[Any], version: str) -> None:
        entry = self.plan(conn, version)
        self.run.migrations.append(entry)
        for what in entry.opaque:
            self._note(f"{version}: {what}: the tables it changes are unknown; if they feed "
                       "the cache, run `watoto-schema cache invalidate --table T`")
        if not entry.families:
            entry.invalidated = True
            return
        if self.run.error is None:
            try:
                self._invalidate(entry)
            except WatotoError as exc:
                self.run.error = str(exc)
                if not self.require:  # with it, the run's one error line says it all
                    self._note(f"warning: {version} is applied, but the cache was not "
                               f"invalidated: {exc}")
        if self.run.error is not None and self.require:
            self.close()
            raise CacheInvalidationFailed(
                f"{version} is applied (it stays applied), but the cached families "
                f"{', '.join(self.run.missed)} were not invalidated: {self.run.error}; "
                f"run `watoto-schema cache invalidate --table "
                f"{' --table '.join(self.run.missed_tables)}` once Redis answers")

    def _invalidate(self, entry: MigrationCache) -> None:
        from .connection import client
        from .invalidate import invalidate

        if self._client is None:
            self._client = client(self.target)
        conn = self._client
        import redis

        try:
            done = invalidate(conn, self.policy, [self.policy.family(f) for f in entry.families])
        except redis.RedisError as exc:
            from .connection import clean_message

            raise CacheUnreachable(f"Redis at {self.target.display}: "
                                   f"{clean_message(exc, self.target)}") from None
        entry.removed = done.counts()
        entry.invalidated = True
        self._note(f"{entry.version}: invalidated "
                   + ", ".join(f"{n} {f} key(s)" for f, n in entry.removed.items())
                   + f" (tables {', '.join(entry.tables)})")

    def _note(self, text: str) -> None:
        if self.on_event is not None:
            self.on_event(text)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def chain(options: RunOptions, invalidator: Invalidator) -> None:
    """Run ``invalidator`` after the hook already in ``options.after_each`` (if any).

    It runs even when that hook fails (a standby did not replay in time: the migration is
    committed all the same, so its cached rows are stale all the same); the first error wins.
    """
    previous: Hook | None = options.after_each

    def after_each(conn: psycopg.Connection[Any], version: str) -> None:
        try:
            if previous is not None:
                previous(conn, version)
        except BaseException:
            with suppress(WatotoError):  # the earlier failure is the one the run reports
                invalidator(conn, version)
            raise
        invalidator(conn, version)

    options.after_each = after_each


def dry_run(invalidator: Invalidator, conn: psycopg.Connection[Any] | None,
            versions: Sequence[str]) -> CacheRun:
    """What a run of ``versions`` would invalidate (nothing is sent to Redis)."""
    run = CacheRun(invalidator.target.display)
    run.migrations = [invalidator.plan(conn, v) for v in versions]
    return run
