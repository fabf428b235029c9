"""``lint``: check migrations for statements that would lock or break production."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .context import AppContext

if TYPE_CHECKING:
    from ..lint import LintReport, LintSettings

pass_app = click.make_pass_decorator(AppContext)


def settings(app: AppContext) -> LintSettings:
    """The rule levels of ``[lint]`` in the configuration file."""
    from ..config import load
    from ..lint import LintSettings

    return LintSettings.from_config(load(app.config_file).lint)


def _has_target(app: AppContext) -> bool:
    """Whether a database was named (--dsn, --local or $WATOTO_DATABASE_URL)."""
    from ..target import ENV_URL

    return bool(app.dsn or app.use_local or os.environ.get(ENV_URL))


@click.command()
@click.argument("files", nargs=-1,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--all", "everything", is_flag=True,
              help="Every migration file, even when a database is given.")
@click.option("--format", "fmt", type=click.Choice(["text", "github"]), default="text",
              show_default=True,
              help="text: compiler-style lines; github: GitHub Actions annotations.")
@click.option("--strict", is_flag=True, help="Exit 2 on warnings too, not only on errors.")
@pass_app
def lint(app: AppContext, files: tuple[Path, ...], everything: bool, fmt: str,
         strict: bool) -> None:
    """Check migrations for statements that lock or break production (docs/lint.md).

    FILES, else the pending migrations of the database when one is given (--dsn, --local,
    $WATOTO_DATABASE_URL), else every migration file (also with --all). A finding gives
    file:line:column, the rule, the lock taken and what it blocks, and the safe rewrite.
    Allow one with `-- lint: allow RULE (reason)` on the statement or in the file's header;
    switch rules off or to warnings in [lint] of watoto-schema.toml.

    Exit status: 0 clean (warnings allowed unless --strict), 2 error-level findings, 1 a
    file that does not parse (its line and column are named).
    """
    from .. import lint as lib
    from ..errors import EXIT_DIFFERENCES
    from ..sources import migration_dirs

    if fmt == "github" and app.as_json:
        raise click.UsageError("give --json or --format github, not both")
    dirs = migration_dirs(app.extra_dirs)
    rules = settings(app)
    source = "files"
    if files:
        report = lib.lint_files(list(files), dirs, rules)
    elif everything or not _has_target(app):
        source = "all"
        report = lib.lint_migrations(dirs, settings=rules)
    else:
        source = "pending"
        pending = lib.pending_versions(app.target(), dirs)
        report = (lib.lint_migrations(dirs, only=set(pending), settings=rules) if pending
                  else lib.LintReport())
    _render(app, report, source, fmt)
    if report.syntax_errors:
        first = report.syntax_errors[0]
        raise lib.SqlSyntaxError(first.path, first.line, first.column, first.reason,
                                 others=len(report.syntax_errors) - 1)
    if report.errors or (strict and report.warnings):
        raise click.exceptions.Exit(EXIT_DIFFERENCES)


def _render(app: AppContext, report: LintReport, source: str, fmt: str) -> None:
    from ..lint.report import compiler_lines, github_line, github_syntax_error

    app.out.document({"source": source, **report.as_dict()})
    for where in report.not_judged:
        app.out.note(f"lint: a rule failed on the statement at {where}; it was not judged "
                     "(a bug: please report it)")
    if fmt == "github":
        for finding in report.findings:
            app.out.raw(github_line(finding) + "\n")
        for error in report.syntax_errors:
            app.out.raw(github_syntax_error(error) + "\n")
        app.out.note(f"lint: {report.summary()}")
        return
    for finding in report.findings:
        app.out.raw("\n".join(compiler_lines(finding)) + "\n")
    if report.files:
        app.out.raw(f"{report.summary()}\n")
    elif not report.syntax_errors:
        app.out.raw("Nothing to lint: no pending migrations.\n" if source == "pending"
                    else "Nothing to lint.\n")
