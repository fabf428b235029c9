"""The lint gate of ``migrate``: lint what a run is about to apply, refuse error-level findings.

Called by the ``migrate`` command before the run (it reads the target's applied versions on
its own connection and takes no lock: a concurrent run that applies something first only
makes this check cover more than the run will do).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UnsafeMigration
from . import LintSettings, pending_versions
from .report import LintReport

if TYPE_CHECKING:
    from ..target import Target


def check_pending(target: Target, extra_dirs: Sequence[Path], to: str | None = None,
                  settings: LintSettings | None = None) -> LintReport:
    """Lint the migrations ``migrate --to`` would apply now (none: an empty report).

    Costs one query when nothing is pending; otherwise every migration is parsed (the
    applied ones for context only).
    """
    from ..sources import migration_dirs
    from . import lint_migrations

    dirs = migration_dirs(extra_dirs)
    pending = pending_versions(target, dirs, to)
    if not pending:
        return LintReport()
    return lint_migrations(dirs, only=set(pending), settings=settings)


def refuse_unsafe(report: LintReport) -> None:
    """Raise ``UnsafeMigration`` (exit 3) naming the error-level findings, if any."""
    if report.errors:
        raise UnsafeMigration([f"{f.where} {f.rule}" for f in report.errors])
