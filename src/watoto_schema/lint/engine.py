"""Linting itself: parse the migrations, walk them in order over the schema model, apply the
rule levels and the allow comments, and report (the package doc says what lint is)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BadConfig
from .parse import Allow, ParsedFile, Statement, parse
from .report import Finding, LintReport, SqlSyntaxError, Suppressed, display
from .rules import RULES, Walker
from .settings import LintSettings

if TYPE_CHECKING:
    from ..sources import MigrationFile
    from ..target import Target


def _allowed(statement: Statement, parsed: ParsedFile, rule: str) -> Allow | None:
    for allow in (*statement.allows, *parsed.file_allows):
        if rule in allow.rules:
            return allow
    return None


def _online(parsed: ParsedFile) -> bool:
    from .. import sources

    return sources.headers(parsed.text, parsed.path.name).get(sources.ONLINE_HEADER) == "true"


def _report(walker: Walker, judged: list[ParsedFile], errors: list[SqlSyntaxError],
            settings: LintSettings) -> LintReport:
    walker.finish()
    report = LintReport(files=[p.path for p in judged], syntax_errors=errors,
                        not_judged=walker.not_judged)
    used: set[tuple[int, str]] = set()  # (id of an allow, rule) that suppressed something
    online = {id(p) for p in judged if _online(p)}
    if online:
        from ..migrate.online.plan import how_online
    for parsed, statement, finding in walker.findings:
        level = settings.levels.get(finding.rule, finding.severity)
        if level == "off":
            continue
        finding = finding.with_severity(level)
        allow = _allowed(statement, parsed, finding.rule) if finding.rule != "bad-allow" \
            else None
        how = how_online(statement.node) if id(parsed) in online and allow is None else None
        if allow is not None:
            used.add((id(allow), finding.rule))
            report.suppressed.append(Suppressed(finding, allow.reason))
        elif how is not None:  # `-- online: true`: expand/contract makes it safe
            report.suppressed.append(Suppressed(finding, how))
        else:
            report.findings.append(finding)
    level = settings.levels.get("bad-allow", RULES["bad-allow"].severity)
    for parsed in judged if level != "off" else ():
        for allow in parsed.allows:
            stale = [r for r in allow.rules if r in RULES and (id(allow), r) not in used
                     and settings.levels.get(r) != "off"]
            if stale:
                report.findings.append(Finding(
                    "bad-allow", level, parsed.path, allow.line, allow.column,
                    f"-- lint: allow {', '.join(allow.rules)}",
                    f"this allow comment's {', '.join(stale)} matches no finding "
                    f"{'in this file' if allow.file_level else 'on its statement'}: "
                    "remove it (or move it to the statement it is about)",
                    RULES["bad-allow"].rewrite))
    order = {p.path: i for i, p in enumerate(judged)}
    report.findings.sort(key=lambda f: (order.get(f.path, 0), f.line, f.column))
    report.suppressed.sort(key=lambda s: (order.get(s.finding.path, 0), s.finding.line))
    return report


def _read(dirs: Sequence[Path]) -> list[tuple[Path, str, bool]]:
    """Each SQL migration of ``dirs`` in yoyo's order: path, text, transactional. Lighter than
    ``sources.read`` (no checksums); Python migrations, which ``migrate`` refuses, are skipped."""
    from .. import sources

    found = []
    for path in sources.paths(dirs):
        if path.suffix != ".sql":
            continue
        text = path.read_text(encoding="utf-8")
        header = sources.directives(text).get("transactional", "true").lower()
        found.append((path, text, header != "false"))
    return found


def _walk(queue: Sequence[tuple[Path, str, bool, bool]],
          settings: LintSettings | None) -> LintReport:
    return _walk_with_walker(queue, settings)[0]


def _walk_with_walker(queue: Sequence[tuple[Path, str, bool, bool]],
                      settings: LintSettings | None) -> tuple[LintReport, Walker]:
    walker = Walker()
    judged: list[ParsedFile] = []
    errors: list[SqlSyntaxError] = []
    for path, text, transactional, judge in queue:
        try:
            parsed = parse(path, text, transactional)
        except SqlSyntaxError as exc:
            if judge:
                errors.append(exc)
            continue
        walker.walk(parsed, judge)
        if judge:
            judged.append(parsed)
    return _report(walker, judged, errors, settings or LintSettings()), walker


def lint_migrations(dirs: Sequence[Path], *, only: set[str] | None = None,
                    settings: LintSettings | None = None) -> LintReport:
    """Lint the migrations of ``dirs`` (those named in ``only``, else all), in order.

    Every migration is read for context, so a table created by an earlier one is existing.
    A migration that does not parse is in ``syntax_errors`` (one only read for context is
    skipped: PostgreSQL accepted it when it was applied).
    """
    return _walk([(path, text, transactional, only is None or path.stem in only)
                  for path, text, transactional in _read(dirs)], settings)


def lint_sources(files: Sequence[MigrationFile], *, only: set[str] | None = None,
                 settings: LintSettings | None = None) -> LintReport:
    """``lint_migrations`` on migrations already read (``sources.read``)."""
    return _walk([(m.path, m.text, m.transactional, only is None or m.version in only)
                  for m in files], settings)


def lint_each(files: Sequence[MigrationFile], only: set[str],
              settings: LintSettings | None = None) -> tuple[dict[str, LintReport], set[str]]:
    """``lint_sources`` of ``only``, its report split by migration (what each one's lines
    are), and the versions whose report depends on the migrations after them too (a foreign
    key judged at the end of the set).

    A report of several migrations is exactly their own reports one after the other: what a
    migration is judged against is the schema the migrations before it built, and every
    finding, allowed finding and syntax error is about one file.
    """
    report, walker = _walk_with_walker(
        [(m.path, m.text, m.transactional, m.version in only) for m in files], settings)
    at_the_end = walker.judged_at_the_end
    each: dict[str, LintReport] = {}
    later: set[str] = set()
    for m in files:
        if m.version not in only:
            continue
        prefix = f"{display(m.path)}:"
        each[m.version] = LintReport(
            files=[p for p in report.files if p == m.path],
            findings=[f for f in report.findings if f.path == m.path],
            suppressed=[s for s in report.suppressed if s.finding.path == m.path],
            syntax_errors=[e for e in report.syntax_errors if e.path == m.path],
            not_judged=[w for w in report.not_judged if w.startswith(prefix)])
        if str(m.path) in at_the_end:
            later.add(m.version)
    return each, later


def lint_files(paths: Sequence[Path], dirs: Sequence[Path] = (),
               settings: LintSettings | None = None) -> LintReport:
    """Lint ``paths``; those in the migration folders ``dirs`` in their place, others as if
    they came after every migration of ``dirs`` (which are read for context)."""
    from .. import sources

    wanted = {p.resolve() for p in paths}
    queue = [(path, text, transactional, path.resolve() in wanted)
             for path, text, transactional in _read(dirs)]
    in_set = {path.resolve() for path, _, _, _ in queue}
    for path in paths:
        if path.resolve() not in in_set:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise BadConfig(f"{path}: {exc.strerror or exc}") from exc
            header = sources.directives(text).get("transactional", "true").lower()
            queue.append((path, text, header != "false", True))
    return _walk(queue, settings)


def pending_versions(target: Target, dirs: Sequence[Path], to: str | None = None) -> list[str]:
    """The versions ``migrate`` would apply to ``target`` now (read-only, no lock taken)."""
    from .. import sources
    from ..migrate import read_applied
    from ..target import connect

    with connect(target) as conn:
        applied = read_applied(conn)
    names = [p.stem for p in sources.paths(dirs)]
    todo = [v for v in names if v not in applied or applied[v].state == "running"]
    if to is None or not todo:
        return todo
    files = sources.read(dirs)
    wanted = sources.ancestors(files, sources.find(files, to))
    return [v for v in todo if v in wanted]
