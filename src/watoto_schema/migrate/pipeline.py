"""What one ``watoto-schema migrate`` run does, in order, in one place.

1. **Lint** what it is about to apply, under the migration lock, and refuse error-level
   findings (exit 3) unless ``allow_unsafe``; a statement of an ``-- online: true``
   migration that the online engine makes safe is not an error (docs/lint.md). A verdict
   already known for a migration's text in its place (the release record of the shipped
   migrations, or the cache) is trusted instead of linting it again (``lint.verdicts``);
   ``lint=False`` skips the step.
2. **Apply** the pending migrations (``operations.migrate``): each plain one atomically;
   an online one through its expand phase, after which it is active and later ones wait;
   with ``complete``, the active one's contract (docs/online.md).
3. After each migration: **wait for the standbys** to replay it (``wait_replicas``); before
   each concurrent statement and each backfill batch: **wait while a standby lags**
   (``max_replica_lag``).
4. After each migration: **invalidate the cached families** of the tables it touched
   (with a Redis, docs/cache.md); this hook runs last.
5. When migrations were applied: **premake partitions** up to the policy's horizon.

The CLI parses options into ``MigrateSettings`` and renders ``MigrateOutcome``; nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadConfig, WatotoError
from .model import RunOptions, RunResult
from .operations import migrate

if TYPE_CHECKING:
    from ..cache.after_migrate import CacheRun, Invalidator
    from ..lint import LintReport, LintSettings
    from ..target import Target


@dataclass
class MigrateSettings:
    """How a ``migrate`` run behaves beyond ``RunOptions`` (each step of the module doc)."""

    options: RunOptions = field(default_factory=RunOptions)
    lint: LintSettings | None = None  # None: lint with the default rule levels
    run_lint: bool = True  # False: no lint step at all (migrate --no-lint)
    known_verdicts: bool = True  # trust verdicts known by checksum (lint.verdicts)
    wait_replicas: float | None = None  # seconds; None: do not wait
    max_lag: tuple[float | None, float | None] | None = None  # (bytes, seconds)
    lag_wait: float = 600.0
    cache_target: Any = None  # a Redis target (cache.connection), or None
    cache_policy: Any = None
    require_cache: bool = False
    premake: bool = True


@dataclass
class MigrateOutcome:
    result: RunResult
    findings: LintReport
    premade: list[str] = field(default_factory=list)
    cache: CacheRun | None = None


def run(target: Target, settings: MigrateSettings, *, to: str | None = None,
        extra_dirs: Sequence[Path] = (), dry_run: bool = False,
        on_event: Callable[[str], None] | None = None) -> MigrateOutcome:
    """Run ``migrate`` the way the module doc says; ``dry_run`` changes nothing."""
    note = on_event or (lambda message: None)
    options = settings.options
    findings = _lint_gate(settings, dry_run, note)
    if settings.wait_replicas is not None:
        from ..replicas import wait_for_standbys

        seconds = settings.wait_replicas
        options.after_each = lambda conn, version: note(
            f"{version}: replayed by {len(wait_for_standbys(conn, seconds, version))} "
            "standby(s)")
    if settings.max_lag is not None:
        from ..replicas import wait_while_lagging

        limit_bytes, limit_seconds = settings.max_lag
        options.before_concurrent = lambda conn, version: wait_while_lagging(
            conn, max_bytes=limit_bytes, max_seconds=limit_seconds, timeout=settings.lag_wait,
            before=f" before a statement of {version}", on_wait=note)
    invalidator = _invalidator(settings, extra_dirs, dry_run, note)  # chained last
    try:
        result = migrate(target, to=to, extra_dirs=extra_dirs, options=options,
                         dry_run=dry_run, on_event=note)
    finally:
        if invalidator is not None:
            invalidator.close()
    outcome = MigrateOutcome(result, findings)
    if settings.premake and result.done and result.sql is None:
        outcome.premade = _premake(target, len(result.done))
    if invalidator is not None:
        outcome.cache = _cache_run(invalidator, target, result)
    return outcome


def _lint_gate(settings: MigrateSettings, dry_run: bool,
               note: Callable[[str], None]) -> LintReport:
    """Have the run lint what it is about to apply (the report fills in when it does) and
    refuse error-level findings (exit 3) unless allow_unsafe or a dry run."""
    from ..lint.gate import gate
    from ..lint.report import LintReport
    from ..lint.settings import LintSettings

    found = LintReport()
    if not settings.run_lint:
        return found
    allow_unsafe = settings.options.allow_unsafe

    def keep(report: LintReport) -> None:
        found.files, found.findings = report.files, report.findings
        found.suppressed = report.suppressed
        for error in report.syntax_errors:  # the server has the last word on its grammar
            note(f"lint: {error} (not checked)")
        for where in report.not_judged:
            note(f"lint: a rule failed on the statement at {where}; not judged")
        if report.errors and allow_unsafe and not dry_run:
            note(f"lint: {report.summary()}; applying anyway (--allow-unsafe)")

    verdicts = None
    if settings.known_verdicts:
        from ..lint.verdicts import Verdicts

        verdicts = Verdicts.default()
    settings.options.before_apply = gate(settings.lint or LintSettings(),
                                         not (dry_run or allow_unsafe), keep, verdicts)
    return found


def _invalidator(settings: MigrateSettings, extra_dirs: Sequence[Path], dry_run: bool,
                 note: Callable[[str], None]) -> Invalidator | None:
    """The cache hook, chained after ``options.after_each``; None without a Redis. A
    malformed URL fails here, before any migration runs."""
    if settings.cache_target is None:  # no Redis: nothing of the cache layer is imported
        if settings.require_cache:
            raise BadConfig("--require-cache-invalidation needs a Redis: pass --redis URL or "
                            "set WATOTO_REDIS_URL")
        return None
    from ..cache.after_migrate import Invalidator, chain
    from ..cache.connection import check_url

    check_url(settings.cache_target)
    invalidator = Invalidator(settings.cache_target, settings.cache_policy, list(extra_dirs),
                              require=settings.require_cache, on_event=note)
    if not dry_run:
        chain(settings.options, invalidator)
    return invalidator


def _cache_run(invalidator: Invalidator, target: Target, result: RunResult) -> CacheRun:
    """What the run invalidated; for a dry run, what it would (Redis is not contacted)."""
    if result.sql is None:
        return invalidator.run
    from ..cache.after_migrate import dry_run
    from ..target import connect

    with connect(target) as conn:
        return dry_run(invalidator, conn, result.done)


def _premake(target: Target, applied: int) -> list[str]:
    from .. import partitions

    try:
        ensured = partitions.ensure(target, skip_missing=True)
    except WatotoError as exc:  # the migrations stay applied: say so
        exc.args = (f"{applied} migration(s) applied, but premaking partitions failed: {exc} "
                    "(run `partitions ensure`, or migrate --no-premake)",)
        raise
    return [a.partition for a in ensured.actions if a.what in ("create", "move+attach")]
