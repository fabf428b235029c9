"""Migration files as the engine sees them: statements, headers, content checksums.

yoyo-migrations reads the files (``-- depends:``, ``-- transactional:``, statement
splitting, ``.rollback.sql`` pairing). This module adds what yoyo does not keep: a checksum
of each file's content that ignores whitespace-only edits, and our own per-file headers
(``-- lock_timeout: 1s``, ``-- statement_timeout: 10min``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BadConfig, UnknownVersion
from .resources import migrations_dir

SETTING_HEADERS = ("lock_timeout", "statement_timeout")
_HEADER = re.compile(r"^\s*--\s*([a-z_]+)\s*:\s*(.*?)\s*$")
_DURATION = re.compile(r"^\d+(\.\d+)?\s*(us|ms|s|min|h|d)?$")


@dataclass
class MigrationFile:
    """One migration: its id (the version), SQL and what we know about its content."""

    version: str
    path: Path
    transactional: bool
    depends: list[str]
    statements: list[str]
    rollback_statements: list[str]
    checksum: str
    rollback_checksum: str | None
    settings: dict[str, str] = field(default_factory=dict)  # from the file's headers
    yoyo: Any = field(default=None, repr=False)  # the yoyo Migration object


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


def checksum(text: str) -> str:
    """SHA-256 of ``text`` with whitespace normalised outside literals and comments.

    Re-indenting, re-wrapping or adding blank lines gives the same checksum; a change to a
    token, a string literal or a comment's words does not.
    """
    parts: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
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


def _headers(path: Path) -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        if not line.lstrip().startswith("--"):
            break
        match = _HEADER.match(line)
        if match and match.group(1) in SETTING_HEADERS:
            settings[match.group(1)] = duration(match.group(2), f"{path.name}: {match.group(1)}")
    return settings


def _statements(step_list: Any, direction: str, path: Path) -> list[str]:
    out: list[str] = []
    for wrapper in step_list:
        sql = getattr(wrapper.step, "_apply" if direction == "apply" else "_rollback", None)
        if sql is not None and not isinstance(sql, str):
            raise BadConfig(f"{path.name}: only SQL migration steps are supported (this "
                            "one is Python code); write it as a .sql migration")
        if sql and sql.strip():
            out.append(sql.strip())
    if direction == "rollback":
        out.reverse()
    return out


def read(dirs: Sequence[Path]) -> list[MigrationFile]:
    """Read every migration of ``dirs`` (in dependency order) with yoyo."""
    from yoyo import read_migrations
    from yoyo.exceptions import BadMigration

    try:
        migrations = read_migrations(*(str(d) for d in dirs))
        for m in migrations:
            m.load()
    except BadMigration as exc:
        raise BadConfig(f"unreadable migration: {exc}") from exc
    except KeyError as exc:  # yoyo: -- transactional: <anything but true/false>
        raise BadConfig(f"bad '-- transactional:' header (use true or false): {exc}") from exc
    files: list[MigrationFile] = []
    for m in migrations:
        path = Path(m.path)
        rollback = path.with_name(path.name[: -len(".sql")] + ".rollback.sql")
        files.append(MigrationFile(
            version=m.id,
            path=path,
            transactional=bool(m.use_transactions),
            depends=sorted(d.id for d in m.depends),
            statements=_statements(m.steps, "apply", path),
            rollback_statements=_statements(m.steps, "rollback", path),
            checksum=checksum(path.read_text(encoding="utf-8")),
            rollback_checksum=(checksum(rollback.read_text(encoding="utf-8"))
                               if rollback.is_file() else None),
            settings=_headers(path),
            yoyo=m,
        ))
    return files


@dataclass
class FileSummary:
    """A migration file known by name and content only (no SQL parsing, no yoyo)."""

    version: str
    path: Path
    checksum: str


def scan(dirs: Sequence[Path]) -> list[FileSummary]:
    """List migration files and their checksums quickly, the way yoyo discovers them.

    For read-only checks that only need versions and checksums; ``read()`` parses the SQL.
    """
    found: list[FileSummary] = []
    for folder in dirs:
        for path in sorted(folder.iterdir()):
            if (not path.is_file() or path.suffix not in (".sql", ".py")
                    or path.name.endswith(".rollback.sql")
                    or path.name.startswith(("post-apply", "_tmp_yoyonew"))):
                continue
            found.append(FileSummary(path.stem, path,
                                     checksum(path.read_text(encoding="utf-8"))))
    return found


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
