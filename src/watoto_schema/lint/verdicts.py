"""Lint verdicts known by checksum: ``migrate`` lints only what needs it (issue #22,
decision 0023).

A migration's verdict is what lint finds in it in its place in the migration set: its
findings, the findings its allow comments (or its ``-- online: true`` header) accept, its
syntax error, the statements a rule failed on. It is a function of

* the linter: the code of this package, of what it asks about online migrations and file
  headers, and pglast's version (``linter()``);
* the rule levels of ``[lint]`` (``LintSettings.key``);
* the exact text of the migration and of every migration before it, which built the schema
  it is judged against: a chain of SHA-256 checksums of the files' whole text. (Not the
  migration checksum of ``verify``, which ignores whitespace and ``-- lint:`` comments: the
  first move findings, the second allow them.)
* for a migration adding a foreign key, the migrations after it too (an index serving the
  key may come later): such a verdict carries ``rest``, the checksum of those, and holds only
  while they are the same.

A verdict is looked up in the **release record** shipped beside the migrations
(``migrations/lint-verdicts.json``, written by ``make lint-verdicts``; a test fails when it
is not current), then in the **cache** (``lint/`` in ``resources.cache_dir()``), one small
file per verdict. A verdict that is in neither is linted and written to the cache: to a
temporary file renamed into place, so concurrent runs at worst write the same verdict twice.
An unreadable, unwritable or damaged cache costs a lint, never a wrong verdict.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .report import Finding, LintReport, SqlSyntaxError, Suppressed, display
from .settings import LintSettings

if TYPE_CHECKING:
    from ..sources import MigrationFile

RECORD_NAME = "lint-verdicts.json"
FORMAT = 1  # of a verdict and of its key; bumped when either changes shape

# What a verdict depends on besides the migrations (paths relative to the package).
_LINTER_SOURCES = ("lint/engine.py", "lint/model.py", "lint/parse.py", "lint/report.py",
                   "lint/rules.py", "lint/settings.py", "lint/verdicts.py",
                   "migrate/online/plan.py", "sources.py")


@cache
def linter() -> str:
    """A checksum of the linter: its code and pglast's version (read from pglast's
    ``__init__.py``, without importing pglast)."""
    from importlib.util import find_spec

    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(f"format {FORMAT}".encode())
    for name in _LINTER_SOURCES:
        digest.update(b"\x1f" + name.encode() + b"\x1f" + (package / name).read_bytes())
    spec = find_spec("pglast")
    origin = spec.origin if spec is not None else None
    digest.update(b"\x1fpglast\x1f" + (Path(origin).read_bytes() if origin else b"none"))
    return digest.hexdigest()


def text_checksum(text: str) -> str:
    """SHA-256 of a migration's whole text (every character counts)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def keys(files: Sequence[MigrationFile], settings: LintSettings) -> list[tuple[str, str]]:
    """Each migration's key (the linter, the levels, its text and the texts before it) and
    ``rest`` (the checksum of the migrations after it), in the order of ``files``."""
    sums = [text_checksum(f.text) for f in files]
    chain = hashlib.sha256(f"{FORMAT}\x1f{linter()}\x1f{settings.key}".encode()).hexdigest()
    chained = []
    for f, text_sum in zip(files, sums, strict=True):
        chain = hashlib.sha256(f"{chain}\x1f{f.version}\x1f{text_sum}".encode()).hexdigest()
        chained.append(chain)
    rests = []
    rest = hashlib.sha256(b"end").hexdigest()
    for f, text_sum in zip(reversed(files), reversed(sums), strict=True):
        rests.append(rest)
        rest = hashlib.sha256(f"{f.version}\x1f{text_sum}\x1f{rest}".encode()).hexdigest()
    return list(zip(chained, reversed(rests), strict=True))


def _finding_record(finding: Finding) -> dict[str, Any]:
    record = asdict(finding)
    del record["path"]
    return record


@dataclass(frozen=True)
class Verdict:
    """One migration's lint report without its path (the same text anywhere has the same
    verdict), and the ``rest`` it depends on, if any."""

    parsed: bool
    findings: list[dict[str, Any]] = field(default_factory=list)
    allowed: list[dict[str, Any]] = field(default_factory=list)  # finding and reason
    syntax_error: dict[str, Any] | None = None  # line, column, message
    not_judged: list[str] = field(default_factory=list)  # "line:column (what failed)"
    rest: str | None = None

    @classmethod
    def of(cls, report: LintReport, path: Path, rest: str | None) -> Verdict:
        """The verdict of the one migration at ``path`` that ``report`` is about."""
        prefix = f"{display(path)}:"
        error = report.syntax_errors[0] if report.syntax_errors else None
        return cls(
            parsed=bool(report.files),
            findings=[_finding_record(f) for f in report.findings],
            allowed=[{"finding": _finding_record(s.finding), "reason": s.reason}
                     for s in report.suppressed],
            syntax_error={"line": error.line, "column": error.column,
                          "message": error.reason} if error is not None else None,
            not_judged=[w.removeprefix(prefix) for w in report.not_judged],
            rest=rest)

    def report(self, path: Path) -> LintReport:
        """The lint report of this verdict's migration, at ``path``."""
        error = self.syntax_error
        return LintReport(
            files=[path] if self.parsed else [],
            findings=[Finding(path=path, **f) for f in self.findings],
            suppressed=[Suppressed(Finding(path=path, **s["finding"]), s["reason"])
                        for s in self.allowed],
            syntax_errors=[SqlSyntaxError(path, error["line"], error["column"],
                                          error["message"])] if error is not None else [],
            not_judged=[f"{display(path)}:{w}" for w in self.not_judged])

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: Any) -> Verdict | None:
        """The verdict of a stored document; None when it is not one (damaged, or of
        another format)."""
        try:
            verdict = cls(**doc)
            verdict.report(Path("check.sql"))  # every field has the shape it must have
        except (TypeError, KeyError, ValueError):
            return None
        return verdict


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@dataclass
class Verdicts:
    """Where ``migrate`` finds known verdicts (the release record, then the cache), and what
    one ``check`` took from each: versions ``trusted`` (the record), ``cached`` and
    ``linted``."""

    record: dict[str, Verdict] = field(default_factory=dict)  # by key
    cache: Path | None = None  # the folder of cached verdicts; None: none kept
    trusted: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    linted: list[str] = field(default_factory=list)

    @classmethod
    def default(cls) -> Verdicts:
        """The shipped release record, and the cache under the user's cache folder."""
        from ..resources import cache_dir, migrations_dir

        return cls(load_record(migrations_dir() / RECORD_NAME), cache_dir() / "lint")

    def get(self, key: str, rest: str) -> tuple[Verdict, str] | None:
        """The verdict known for ``key`` that holds with ``rest`` after it, and where it was
        found ("record" or "cache")."""
        known = self.record.get(key)
        if known is not None and known.rest in (None, rest):
            return known, "record"
        if self.cache is None:
            return None
        for name in (f"{key}.json", f"{key}-{rest}.json"):
            verdict = Verdict.from_dict(_read(self.cache / name))
            if verdict is not None and verdict.rest in (None, rest):
                return verdict, "cache"
        return None

    def put(self, key: str, verdict: Verdict) -> None:
        """Keep ``verdict`` in the cache, atomically; a cache that cannot be written is
        passed over."""
        if self.cache is None:
            return
        name = f"{key}-{verdict.rest}.json" if verdict.rest else f"{key}.json"
        temporary = self.cache / f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(verdict.as_dict()), encoding="utf-8")
            temporary.replace(self.cache / name)
        except OSError:
            with suppress(OSError):
                temporary.unlink(missing_ok=True)

    def check(self, files: Sequence[MigrationFile], only: set[str],
              settings: LintSettings) -> LintReport:
        """The lint report of the migrations named in ``only`` among ``files`` (all read,
        in order): known verdicts as they are, the others linted (and then kept)."""
        known: dict[str, Verdict] = {}
        places = keys(files, settings)
        for m, (key, rest) in zip(files, places, strict=True):
            if m.version in only:
                found = self.get(key, rest)
                if found is not None:
                    known[m.version] = found[0]
                    (self.trusted if found[1] == "record" else self.cached).append(m.version)
        missing = {m.version for m in files if m.version in only} - known.keys()
        if missing:
            from .engine import lint_each

            reports, later = lint_each(files, missing, settings)
            for m, (key, rest) in zip(files, places, strict=True):
                if m.version in missing:
                    verdict = Verdict.of(reports[m.version], m.path,
                                         rest if m.version in later else None)
                    known[m.version] = verdict
                    self.put(key, verdict)
                    self.linted.append(m.version)
        merged = LintReport()
        for m in files:
            if m.version in known:
                part = known[m.version].report(m.path)
                merged.files += part.files
                merged.findings += part.findings
                merged.suppressed += part.suppressed
                merged.syntax_errors += part.syntax_errors
                merged.not_judged += part.not_judged
        return merged


def load_record(path: Path) -> dict[str, Verdict]:
    """The verdicts of a release record, by key; {} when there is none or it is damaged
    (then every shipped migration is linted)."""
    doc = _read(path)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return {}
    found = {}
    for entry in doc.get("migrations", []):
        verdict = Verdict.from_dict(entry.get("verdict")) if isinstance(entry, dict) else None
        if verdict is not None and isinstance(entry.get("key"), str):
            found[entry["key"]] = verdict
    return found


def record(folder: Path) -> dict[str, Any]:
    """The release record of the migrations in ``folder``, each linted in its place in the
    set with the default rule levels."""
    from .. import sources
    from .engine import lint_each

    files = sources.read([folder])
    settings = LintSettings()
    reports, later = lint_each(files, {m.version for m in files}, settings)
    entries = []
    for m, (key, rest) in zip(files, keys(files, settings), strict=True):
        verdict = Verdict.of(reports[m.version], m.path, rest if m.version in later else None)
        entries.append({"version": m.version, "checksum": text_checksum(m.text), "key": key,
                        "verdict": verdict.as_dict()})
    return {"format": FORMAT, "about": "lint verdicts of the shipped migrations, trusted by "
            "`migrate` while every checksum holds (docs/lint.md); written by "
            "`make lint-verdicts`", "linter": linter(), "migrations": entries}


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, sort_keys=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m watoto_schema.lint.verdicts FOLDER``: write FOLDER/lint-verdicts.json;
    with ``--check``, exit 1 when it is not current."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    folders = [a for a in args if a != "--check"]
    if len(folders) != 1:
        sys.stderr.write("usage: python -m watoto_schema.lint.verdicts [--check] FOLDER\n")
        return 1
    folder = Path(folders[0])
    doc = record(folder)
    text = render(doc)
    path = folder / RECORD_NAME
    if check:
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current != text:
            sys.stderr.write(f"{path} is not current: run `make lint-verdicts`\n")
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {path}: {len(doc['migrations'])} verdict(s)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
