"""Read a migration file into statements with PostgreSQL's own parser (pglast, libpg_query).

Each statement keeps where it starts (1-based line and column of its first token, past the
comments before it) and its text; ``-- lint: allow`` comments are collected with the lines
they govern: the file's header block, or the statement they stand on or just before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .report import SqlSyntaxError as SqlSyntaxError  # raised here, long imported from here

# A comment: `-- lint: allow RULE[, RULE] (reason)`. The reason is everything in the
# parentheses; rules are separated by commas or spaces.
_ALLOW = re.compile(r"^--\s*lint\s*:\s*allow\b\s*(?P<rules>[^(]*?)\s*(?:\((?P<reason>.*)\))?\s*$",
                    re.IGNORECASE)
# Tokens whose inside is not SQL (strings, quoted names, comments, dollar quotes).
_TOKEN = re.compile(r"""
      (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*|)\$.*?\$(?P=tag)\$)
    | (?P<estring>[Ee]'(?:[^'\\]|''|\\.)*')
    | (?P<string>'(?:[^']|'')*')
    | (?P<ident>"(?:[^"]|"")*")
    | (?P<line>--[^\n]*)
    | (?P<block>/\*.*?\*/)
""", re.VERBOSE | re.DOTALL)


@dataclass(frozen=True)
class Allow:
    """One ``-- lint: allow`` comment."""

    rules: tuple[str, ...]
    reason: str
    line: int
    column: int
    file_level: bool


@dataclass
class Statement:
    """One statement of a file: its parse tree, text and position."""

    node: Any  # a pglast.ast node (the RawStmt's stmt)
    text: str
    line: int
    column: int
    first_line: int  # first line whose comments govern it (after the previous statement)
    last_line: int  # the line of its end (a comment after it on that line governs it too)
    allows: list[Allow] = field(default_factory=list)


@dataclass
class ParsedFile:
    """A migration file as the linter sees it."""

    path: Path
    text: str
    transactional: bool
    statements: list[Statement]
    file_allows: list[Allow]
    allows: list[Allow]  # every allow comment, file-level ones included


class _Lines:
    """Offsets to 1-based line and column."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer(r"\n", text)]

    def at(self, offset: int) -> tuple[int, int]:
        import bisect

        index = bisect.bisect_right(self.starts, offset) - 1
        return index + 1, offset - self.starts[index] + 1


def _skip_trivia(text: str, pos: int, end: int) -> int:
    """The offset of the first token at or after ``pos``: whitespace and comments skipped."""
    while pos < end:
        if text[pos].isspace():
            pos += 1
        elif text.startswith("--", pos):
            newline = text.find("\n", pos)
            pos = end if newline < 0 else newline + 1
        elif text.startswith("/*", pos):
            depth, pos = 1, pos + 2
            while pos < end and depth:
                if text.startswith("/*", pos):
                    depth, pos = depth + 1, pos + 2
                elif text.startswith("*/", pos):
                    depth, pos = depth - 1, pos + 2
                else:
                    pos += 1
        else:
            break
    return pos


def _header_end(text: str) -> int:
    """The number of lines of the file's header: its leading comment lines, up to the first
    blank line or line of SQL (where `-- depends:` and `-- transactional:` live)."""
    count = 0
    for line in text.splitlines():
        if not line.lstrip().startswith("--"):
            break
        count += 1
    return count


def _allows(text: str, lines: _Lines, header_lines: int) -> list[Allow]:
    found = []
    for match in _TOKEN.finditer(text):
        if match.lastgroup != "line":
            continue
        allow = _ALLOW.match(match.group(0))
        if not allow:
            continue
        line, column = lines.at(match.start())
        rules = tuple(r.lower() for r in re.split(r"[\s,]+", allow.group("rules")) if r)
        found.append(Allow(rules, (allow.group("reason") or "").strip(), line, column,
                           file_level=line <= header_lines))
    return found


def _syntax_error(path: Path, text: str, exc: Any) -> SqlSyntaxError:
    """The error with its line and column. pglast reports a wrong offset when non-ASCII
    characters come before the error, so the position is taken from an ASCII copy (every
    other character replaced by one letter: the same offsets, the same grammar)."""
    from pglast.parser import ParseError, parse_sql

    message, location = exc.args[0], exc.args[1] if len(exc.args) > 1 else None
    if not text.isascii():
        try:
            parse_sql(re.sub(r"[^\x00-\x7f]", "x", text))
        except ParseError as again:
            location = again.args[1] if len(again.args) > 1 else None
    if location is None:  # at end of input
        location = len(text.rstrip())
    line, column = _Lines(text).at(min(max(int(location), 0), len(text)))
    return SqlSyntaxError(path, line, column, message)


def parse(path: Path, text: str, transactional: bool) -> ParsedFile:
    """Parse ``text`` (the file at ``path``); raise ``SqlSyntaxError`` with its position."""
    from pglast import parse_sql
    from pglast.parser import ParseError

    try:
        raw = parse_sql(text)
    except ParseError as exc:
        raise _syntax_error(path, text, exc) from None
    lines = _Lines(text)
    allows = _allows(text, lines, _header_end(text))
    statements: list[Statement] = []
    previous_end_line = 0
    for item in raw:
        begin = item.stmt_location or 0
        end = begin + item.stmt_len if item.stmt_len else len(text)
        start = _skip_trivia(text, begin, end)
        body = text[start:end].rstrip()
        line, column = lines.at(start)
        last_line = lines.at(max(start, start + len(body) - 1))[0]
        # the terminating semicolon may sit on a later line than the statement's last token
        semicolon = text.find(";", end) if end < len(text) else -1
        if semicolon >= 0 and not text[end:semicolon].strip():
            last_line = lines.at(semicolon)[0]
        statements.append(Statement(item.stmt, body, line, column, previous_end_line + 1,
                                    last_line))
        previous_end_line = last_line
    for allow in allows:
        if allow.file_level:
            continue
        for statement in statements:
            if statement.first_line <= allow.line <= statement.last_line:
                statement.allows.append(allow)
                break
    return ParsedFile(path, text, transactional, statements,
                      [a for a in allows if a.file_level], allows)
