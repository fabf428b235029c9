"""Migration files as the engine sees them: statements, headers, content checksums.

Files are found, paired with their ``.rollback.sql`` and their ``-- depends:`` and
``-- transactional:`` headers read by yoyo-migrations' rules; yoyo (sqlparse) splits a
file into statements only when the statements are needed. This module adds what yoyo
does not keep: a checksum of each file's content that ignores whitespace-only edits, and
our own per-file headers (``-- lock_timeout: 1s``, ``-- statement_timeout: 10min``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .errors import BadConfig, UnknownVersion
from .resources import migrations_dir

SETTING_HEADERS = ("lock_timeout", "statement_timeout")
ONLINE_HEADER = "online"  # `-- online: true`: run as expand/contract (docs/online.md)
_HEADER = re.compile(r"^\s*--\s*([a-z_]+)\s*:\s*(.*?)\s*$")
_DURATION = re.compile(r"^\d+(\.\d+)?\s*(us|ms|s|min|h|d)?$")


@dataclass
class MigrationFile:
    """One migration: its id (the version), SQL and what we know about its content.

    The file is read once. Its statements are split (by yoyo, with sqlparse) only when asked
    for: a transactional migration is sent to the server as the file's SQL text, like
    ``psql -f`` would, so applying, ``status`` and ``verify`` never split SQL.
    """

    version: str
    path: Path
    transactional: bool
    depends: list[str]
    text: str = field(repr=False)
    rollback_text: str | None = field(repr=False)
    checksum: str
    rollback_checksum: str | None
    settings: dict[str, str] = field(default_factory=dict)  # from the file's headers

    @cached_property
    def statements(self) -> list[str]:
        """The statements yoyo splits the file into (what a non-transactional run executes)."""
        return _split(self.path)

    @cached_property
    def rollback_statements(self) -> list[str]:
        """The rollback file's statements, in file order ([] when there is none)."""
        return _split(_rollback_path(self.path)) if self.rollback_text is not None else []

    def sql(self, direction: str) -> str:
        """The SQL of a transactional run: the file (or rollback file) as one script, from
        its first line of SQL on (the header comments go, as yoyo drops them)."""
        return body(self.text if direction == "apply" else (self.rollback_text or ""))

    @property
    def online(self) -> bool:
        """Headed ``-- online: true``: run as expand/contract (docs/online.md)."""
        return self.settings.get(ONLINE_HEADER) == "true"

    @property
    def statement_count(self) -> int:
        """How many statements ``statements_done`` records once the migration is applied.

        A transactional migration counts its top-level statements without splitting them
        with sqlparse (it runs as one script); a non-transactional one counts the statements
        it ran one by one.
        """
        return count_statements(self.text) if self.transactional else len(self.statements)


# SQL tokens whose inner whitespace matters (literals, quoted names, comments), words, and
# single punctuation characters. Dollar quotes need a backreference to their tag.
_TOKEN = re.compile(r"""
      (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*|)\$.*?\$(?P=tag)\$)
    | (?P<estring>[Ee]'(?:[^'\\]|''|\\.)*')
    | (?P<string>[BbXxNn]?'(?:[^']|'')*')
    | (?P<ident>"(?:[^"]|"")*")
    | (?P<line>--[^\n]*)
    | (?P<block>/\*.*?\*/)
    | (?P<word>[\w$]+)
    | (?P<punct>[^\s\w])
""", re.VERBOSE | re.DOTALL)


# `-- lint: allow RULE (reason)` comments: review notes about a migration, not part of it.
_LINT_COMMENT = re.compile(r"--\s*lint\s*:", re.IGNORECASE)


def checksum(text: str) -> str:
    """SHA-256 of ``text`` with whitespace normalised outside literals and comments.

    Re-indenting, re-wrapping or adding blank lines gives the same checksum; a change to a
    token, a string literal or a comment's words does not. ``-- lint:`` comments do not
    count: allowing a finding in an applied migration does not make it "edited"
    (docs/decisions/0014-migration-lint.md).
    """
    parts: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if match.lastgroup == "line" and _LINT_COMMENT.match(token):
            continue
        if match.lastgroup in ("line", "block"):
            token = " ".join(token.split())
        parts.append(token)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def duration(value: str, what: str) -> str:
    """Validate a PostgreSQL duration (``500ms``, ``3s``, ``10min``, ``0``) and return it."""
    cleaned = value.strip()
    if not _DURATION.match(cleaned):
        raise BadConfig(f"{what}: {value!r} is not a duration like 500ms, 3s, 10min or 0")
    return cleaned


def headers(text: str, name: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.lstrip().startswith("--"):
            break
        match = _HEADER.match(line)
        if match and match.group(1) in SETTING_HEADERS:
            settings[match.group(1)] = duration(match.group(2), f"{name}: {match.group(1)}")
        elif match and match.group(1) == ONLINE_HEADER and not match.group(2).lower() \
                .startswith(("up ", "down ")):
            value = match.group(2).lower()
            if value not in ("true", "false"):
                raise BadConfig(f"{name}: bad '-- online:' header (use true or false): "
                                f"{match.group(2)!r}")
            settings[ONLINE_HEADER] = value
    return settings


# yoyo's own reading of a SQL file's header (yoyo.migrations.parse_metadata_from_sql_comments):
# the leading comment lines, up to the first line of SQL, may hold its two directives.
_YOYO_DIRECTIVE = re.compile(r"^\s*--\s*(transactional|depends)\s*:\s*(.*)$")
_YOYO_COMMENT_OR_EMPTY = re.compile(r"^(\s*|\s*--.*)$")
_YOYO_TEMP_PREFIX = "_tmp_yoyonew"  # yoyo.scripts.newmigration.tempfile_prefix


def directives(text: str) -> dict[str, str]:
    """yoyo's ``-- transactional:`` / ``-- depends:`` directives, read the way yoyo reads them."""
    return _header(text)[0]


def body(text: str) -> str:
    """``text`` from its first line of SQL on: the leading comments go, as yoyo drops them."""
    return _header(text)[1]


def _header(text: str) -> tuple[dict[str, str], str]:
    """yoyo.migrations.parse_metadata_from_sql_comments: directives and the SQL after them."""
    match = re.search(r"\n|\r\n|\r", text + "\n")
    assert match is not None
    lines = text.split(match.group(0))
    found: dict[str, str] = {}
    for index, line in enumerate(lines):
        directive = _YOYO_DIRECTIVE.match(line)
        if directive:
            key, value = directive.groups()
            found[key] = f"{found[key]} {value}" if key in found else value
        elif not _YOYO_COMMENT_OR_EMPTY.match(line):
            return found, match.group(0).join(lines[index:])
    return found, ""


def _split(path: Path) -> list[str]:
    """The statements of one SQL file, split by yoyo (sqlparse), each stripped."""
    from yoyo.migrations import read_sql_migration

    _, _, statements = read_sql_migration(str(path))
    return [s.strip() for s in statements if s.strip()]


def count_statements(text: str) -> int:
    """Top-level statements of ``text``: ``;``-separated outside literals, quoted names,
    comments, dollar quotes and parentheses, as ``psql`` separates them; comment-only parts
    do not count."""
    count, depth, pending = 0, 0, False
    for match in _TOKEN.finditer(text):
        kind, token = match.lastgroup, match.group(0)
        if kind in ("line", "block"):
            continue
        if kind == "punct" and token in "()":
            depth = max(0, depth + (1 if token == "(" else -1))
        if kind == "punct" and token == ";" and depth == 0:
            count, pending = count + pending, False
        else:
            pending = True
    return count + pending


def _rollback_path(path: Path) -> Path:
    return path.with_name(path.name[: -len(".sql")] + ".rollback.sql")


def _migration_paths(folder: Path) -> list[Path]:
    """Migration files of one folder, the way yoyo discovers them, in yoyo's order."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir()
                   if p.is_file() and p.suffix in (".sql", ".py")
                   and not p.name.startswith(_YOYO_TEMP_PREFIX)
                   and not p.name.endswith(".rollback.sql")
                   and not p.name.startswith("post-apply")), key=str)


def paths(dirs: Sequence[Path]) -> list[Path]:
    """The migration files of ``dirs``, in yoyo's order, unread."""
    return [p for folder in dirs for p in _migration_paths(Path(folder))]


def read(dirs: Sequence[Path]) -> list[MigrationFile]:
    """Read every migration of ``dirs`` in yoyo's order (folder by folder, by file name).

    Reads each file once, with yoyo's rules for finding files and reading their
    ``-- depends:`` and ``-- transactional:`` headers, without importing yoyo or splitting
    SQL; ``MigrationFile.statements`` splits on demand.
    """
    files: list[MigrationFile] = []
    seen: set[str] = set()
    for path in paths(dirs):
        if path.suffix == ".py":
            raise BadConfig(f"{path.name}: only SQL migration steps are supported (this "
                            "one is Python code); write it as a .sql migration")
        if path.stem in seen:
            raise BadConfig(f"unreadable migration: two migrations are named {path.stem}")
        seen.add(path.stem)
        text = path.read_text(encoding="utf-8")
        rollback = _rollback_path(path)
        rollback_text = rollback.read_text(encoding="utf-8") if rollback.is_file() else None
        found = directives(text)
        transactional = found.get("transactional", "true").lower()
        if transactional not in ("true", "false"):
            raise BadConfig("bad '-- transactional:' header (use true or false): "
                            f"{transactional!r}")
        files.append(MigrationFile(
            version=path.stem,
            path=path,
            transactional=transactional == "true",
            depends=sorted({d for d in found.get("depends", "").split() if d}),
            text=text,
            rollback_text=rollback_text,
            checksum=checksum(text),
            rollback_checksum=checksum(rollback_text) if rollback_text is not None else None,
            settings=headers(text, path.name),
        ))
    for f in files:
        unknown = [d for d in f.depends if d not in seen]
        if unknown:
            raise BadConfig(f"unreadable migration: Could not resolve dependencies in {f.path} "
                            f"({', '.join(unknown)})")
    return files


@dataclass
class FileSummary:
    """A migration file known by name and content only (no SQL parsing, no yoyo)."""

    version: str
    path: Path
    checksum: str


def scan(dirs: Sequence[Path]) -> list[FileSummary]:
    """List migration files and their checksums quickly, the way yoyo discovers them.

    For read-only checks that only need versions and checksums; ``read()`` reads headers too.
    """
    return [FileSummary(path.stem, path, checksum(path.read_text(encoding="utf-8")))
            for path in paths(dirs)]


def migration_dirs(extra: Sequence[Path] = ()) -> list[Path]:
    """The shipped migrations folder followed by any extra folders."""
    return [migrations_dir(), *extra]


def find(files: Sequence[MigrationFile], version: str) -> MigrationFile:
    """The migration named ``version``: its full id, or its unique numeric prefix."""
    for f in files:
        if f.version == version:
            return f
    prefixed = [f for f in files if f.version.split("_", 1)[0] == version]
    if len(prefixed) == 1:
        return prefixed[0]
    raise UnknownVersion(version, [f.version for f in files])


def ancestors(files: Sequence[MigrationFile], goal: MigrationFile) -> set[str]:
    """``goal`` and every version it depends on, directly or not."""
    by_version = {f.version: f for f in files}
    seen: set[str] = set()
    todo = [goal.version]
    while todo:
        version = todo.pop()
        if version in seen:
            continue
        seen.add(version)
        todo.extend(by_version[version].depends if version in by_version else [])
    return seen
