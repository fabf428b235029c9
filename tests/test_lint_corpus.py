"""The lint corpus (#14): each file of tests/lint/ is a migration with the findings it must
produce (`-- expect: RULE LINE:COL`, or `-- expect: clean`) and may name rules it must not
(`-- expect-not: RULE`). The safe rewrites are cases too, so false positives show. The
files come after every shipped migration: `users`, `courses`, ... are existing tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from watoto_schema.lint import RULES, lint_files
from watoto_schema.sources import migration_dirs

CORPUS = Path(__file__).resolve().parent / "lint"
CASES = sorted(CORPUS.glob("*.sql"))
_EXPECT = re.compile(r"^-- expect: (?:clean|(?P<rule>[a-z-]+) (?P<line>\d+):(?P<col>\d+))\s*$",
                     re.M)
_EXPECT_NOT = re.compile(r"^-- expect-not: (?P<rule>[a-z-]+)\s*$", re.M)


def expectations(path: Path) -> tuple[list[tuple[str, int, int]], list[str]]:
    text = path.read_text()
    must = [(m["rule"], int(m["line"]), int(m["col"])) for m in _EXPECT.finditer(text)
            if m["rule"]]
    assert must or "-- expect: clean" in text, f"{path.name}: no expectation"
    return sorted(must), [m["rule"] for m in _EXPECT_NOT.finditer(text)]


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_corpus_case(case: Path) -> None:
    must, must_not = expectations(case)
    report = lint_files([case], migration_dirs())
    assert not report.syntax_errors and not report.not_judged
    found = sorted((f.rule, f.line, f.column) for f in report.findings)
    assert found == must, "\n".join(f.where + " " + f.rule + ": " + f.message
                                    for f in report.findings)
    assert not {f.rule for f in report.findings} & set(must_not)
    for finding in report.findings:  # every finding says what to do instead
        assert finding.rewrite and finding.statement and finding.message
        assert (finding.lock is None) == (finding.blocks is None)


def test_the_corpus_covers_every_rule_with_unsafe_and_safe_cases() -> None:
    expected = {rule for case in CASES for rule, _, _ in expectations(case)[0]}
    assert set(RULES) - expected == set()
    safe = [case for case in CASES if not expectations(case)[0]]
    assert len(safe) >= 20 and len(CASES) - len(safe) >= 30


def test_locking_findings_name_the_lock_and_what_it_blocks() -> None:
    report = lint_files([CORPUS / "create_index_on_existing_table.sql"], migration_dirs())
    [finding] = report.findings
    assert finding.lock == "SHARE on users"
    assert finding.blocks is not None and "write" in finding.blocks
    assert finding.statement == "CREATE INDEX idx_users_last_login ON users (last_login)"
    assert "CONCURRENTLY" in finding.rewrite
