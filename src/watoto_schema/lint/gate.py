"""The lint gate of ``migrate``: lint what a run is about to apply, refuse error-level findings.

The ``migrate`` command hands ``gate`` to the engine as ``RunOptions.before_apply``: it runs
under the migration lock, on the files the run has already read, with the exact list it is
about to apply, and not at all when nothing is pending. With ``verdicts``, a migration whose
verdict is known for its text in its place (``verdicts``) is not linted again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..errors import UnsafeMigration
from .report import LintReport
from .settings import LintSettings

if TYPE_CHECKING:
    from ..sources import MigrationFile
    from .verdicts import Verdicts


def check(files: Sequence[MigrationFile], todo: Sequence[MigrationFile],
          settings: LintSettings | None = None,
          verdicts: Verdicts | None = None) -> LintReport:
    """Lint ``todo`` among ``files`` (all read for context, in order); known verdicts are
    taken from ``verdicts`` when given."""
    if not todo:
        return LintReport()
    only = {m.version for m in todo}
    if verdicts is not None:
        return verdicts.check(files, only, settings or LintSettings())
    from .engine import lint_sources

    return lint_sources(files, only=only, settings=settings)


def refuse_unsafe(report: LintReport) -> None:
    """Raise ``UnsafeMigration`` (exit 3) naming the error-level findings, if any."""
    if report.errors:
        raise UnsafeMigration([f"{f.where} {f.rule}" for f in report.errors])


def gate(settings: LintSettings, refuse: bool,
         on_report: Callable[[LintReport], None],
         verdicts: Verdicts | None = None) -> Callable[
             [list[MigrationFile], list[MigrationFile]], None]:
    """A ``RunOptions.before_apply`` hook: lint, hand the report over, refuse if ``refuse``."""
    def before_apply(files: list[MigrationFile], todo: list[MigrationFile]) -> None:
        report = check(files, todo, settings, verdicts)
        on_report(report)
        if refuse:
            refuse_unsafe(report)

    return before_apply
