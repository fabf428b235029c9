"""Findings and the report of a lint run, and their renderings (compiler lines, JSON,
GitHub Actions annotations). The library returns these; the CLI prints them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import WatotoError

ERROR = "error"
WARNING = "warning"


def display(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (as a compiler prints)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class SqlSyntaxError(WatotoError):
    """A migration file that PostgreSQL's grammar does not accept (exit 1)."""

    def __init__(self, path: Path, line: int, column: int, message: str,
                 others: int = 0) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.reason = message
        more = f" (and {others} more file(s) that do not parse)" if others else ""
        super().__init__(f"{display(path)}:{line}:{column}: {message}{more}")


@dataclass(frozen=True)
class Finding:
    """One problem: where, which rule, the lock it takes, what that blocks and the fix."""

    rule: str
    severity: str  # error | warning
    path: Path
    line: int
    column: int
    statement: str
    message: str
    rewrite: str
    lock: str | None = None  # e.g. "SHARE on users"
    blocks: str | None = None  # what that lock blocks, in the application's terms

    def with_severity(self, severity: str) -> Finding:
        return replace(self, severity=severity)

    @property
    def where(self) -> str:
        return f"{display(self.path)}:{self.line}:{self.column}"

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "file": display(self.path),
                "line": self.line, "column": self.column, "message": self.message,
                "statement": self.statement, "lock": self.lock, "blocks": self.blocks,
                "rewrite": self.rewrite}


@dataclass(frozen=True)
class Suppressed:
    """A finding an explicit ``-- lint: allow`` comment accepted, with its reason."""

    finding: Finding
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.finding.rule, "file": display(self.finding.path),
                "line": self.finding.line, "column": self.finding.column,
                "reason": self.reason}


@dataclass
class LintReport:
    """What a lint run found in ``files``; ``syntax_errors`` are files that do not parse."""

    files: list[Path] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    syntax_errors: list[SqlSyntaxError] = field(default_factory=list)
    not_judged: list[str] = field(default_factory=list)  # where a rule failed (a bug): said

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    def summary(self) -> str:
        parts = [f"{len(self.errors)} error(s)", f"{len(self.warnings)} warning(s)"]
        if self.suppressed:
            parts.append(f"{len(self.suppressed)} allowed")
        return f"{', '.join(parts)} in {len(self.files)} file(s)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": [display(p) for p in self.files],
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.as_dict() for f in self.findings],
            "allowed": [s.as_dict() for s in self.suppressed],
            "syntax_errors": [{"file": display(e.path), "line": e.line, "column": e.column,
                               "message": e.reason} for e in self.syntax_errors],
            "not_judged": self.not_judged,
        }


def compiler_lines(finding: Finding, indent: str = "    ") -> list[str]:
    """``file:line:col: severity rule: message``, then the statement, lock and fix."""
    first = finding.statement.splitlines()[0] if finding.statement else ""
    more = " ..." if "\n" in finding.statement else ""
    lines = [f"{finding.where}: {finding.severity} {finding.rule}: {finding.message}",
             f"{indent}| {first}{more}"]
    if finding.lock:
        lines.append(f"{indent}lock: {finding.lock}, blocking {finding.blocks}")
    lines.append(f"{indent}fix: {finding.rewrite}")
    return lines


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(finding: Finding) -> str:
    """A GitHub Actions workflow command: an annotation on the file, line and column."""
    level = "error" if finding.severity == ERROR else "warning"
    body = finding.message
    if finding.lock:
        body += f"\nlock: {finding.lock}, blocking {finding.blocks}"
    body += f"\nfix: {finding.rewrite}"
    return (f"::{level} file={_escape_property(display(finding.path))},line={finding.line},"
            f"col={finding.column},title={_escape_property(finding.rule)}::"
            f"{_escape_data(body)}")


def github_syntax_error(error: SqlSyntaxError) -> str:
    return (f"::error file={_escape_property(display(error.path))},line={error.line},"
            f"col={error.column},title=syntax::{_escape_data(error.reason)}")
