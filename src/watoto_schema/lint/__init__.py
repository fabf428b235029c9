"""``watoto-schema lint``: catch migrations that would lock or break production before they
run (issue #14, docs/lint.md, decision 0014).

Files are parsed with PostgreSQL's own grammar (pglast) and walked in migration order over a
model of the schema the earlier migrations built, so a table created earlier in the same
file is new (safe to lock) and one created by an earlier migration is existing. Findings can
be allowed per statement or per file (``-- lint: allow RULE (reason)``) and switched off or
down to warnings in ``[lint]`` of ``watoto-schema.toml``.

``migrate`` lints what it is about to apply, and trusts a verdict already known for the same
text in the same place (``verdicts``: recorded at release for the shipped migrations, cached
by checksum for others), so a fresh ``migrate`` parses nothing (issue #22).

The names below are imported on first use: ``migrate`` with every verdict known never loads
the rules, the schema model or pglast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import exports

if TYPE_CHECKING:
    from .engine import lint_files, lint_migrations, lint_sources, pending_versions
    from .report import ERROR, WARNING, Finding, LintReport, SqlSyntaxError, Suppressed
    from .rules import RULES
    from .settings import LEVELS, LintSettings

__all__ = ["ERROR", "LEVELS", "RULES", "WARNING", "Finding", "LintReport", "LintSettings",
           "SqlSyntaxError", "Suppressed", "lint_files", "lint_migrations", "lint_sources",
           "pending_versions"]

_HOME = {"ERROR": "report", "WARNING": "report", "Finding": "report", "LintReport": "report",
         "Suppressed": "report", "SqlSyntaxError": "report", "LEVELS": "settings",
         "LintSettings": "settings", "RULES": "rules", "lint_files": "engine",
         "lint_migrations": "engine", "lint_sources": "engine", "pending_versions": "engine"}


__getattr__ = exports(__name__, {name: f".{home}" for name, home in _HOME.items()},
                      globals())
