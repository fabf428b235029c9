"""How lint reads a file (#14): statement positions past comments, which statement an allow
comment governs, the header's file-level allows, and the model's type knowledge."""

from __future__ import annotations

from pathlib import Path

import pytest

from watoto_schema.lint.model import Type, is_rewrite_free_change, narrows
from watoto_schema.lint.parse import SqlSyntaxError, parse

TEXT = """\
-- depends: 0007_views
-- lint: allow integer-id (file level: in the header)

/* a block comment */ CREATE TABLE a (id int); -- lint: allow no-primary-key (on a's line)
-- lint: allow truncate (the line before b)
TRUNCATE a;
CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$
-- lint: allow drop-table (inside a body: not a comment of the migration)
SELECT 1 $$;
  UPDATE a
     SET id = 2
"""


def test_statements_start_at_their_first_token_and_allows_find_their_statement() -> None:
    parsed = parse(Path("m.sql"), TEXT, transactional=True)
    assert [(s.line, s.column) for s in parsed.statements] == [(4, 23), (6, 1), (7, 1),
                                                               (10, 3)]
    assert parsed.statements[0].text == "CREATE TABLE a (id int)"
    assert parsed.statements[3].text == "UPDATE a\n     SET id = 2"
    assert [a.rules for a in parsed.file_allows] == [("integer-id",)]
    assert [[a.reason for a in s.allows] for s in parsed.statements] == [
        ["on a's line"], ["the line before b"], [], []]


def test_a_syntax_error_has_its_line_and_column() -> None:
    with pytest.raises(SqlSyntaxError) as info:
        parse(Path("m.sql"), "SELECT 'é';\n\nALTER TABEL a ADD b int;\n", transactional=True)
    assert (info.value.line, info.value.column) == (3, 7)
    assert str(info.value) == 'm.sql:3:7: syntax error at or near "TABEL"'


@pytest.mark.parametrize(("old", "new", "free"), [
    (Type("varchar", (100,)), Type("varchar", (200,)), True),
    (Type("varchar", (100,)), Type("text"), True),
    (Type("varchar", (100,)), Type("varchar", (50,)), False),
    (Type("numeric", (5, 2)), Type("numeric", (7, 2)), True),
    (Type("numeric", (5, 2)), Type("numeric", (7, 3)), False),
    (Type("int4"), Type("int8"), False),
    (None, Type("text"), False),
])
def test_binary_compatible_type_changes(old: Type | None, new: Type, free: bool) -> None:
    assert is_rewrite_free_change(old, new) is free


def test_narrowing() -> None:
    assert narrows(Type("int8"), Type("int4"))
    assert narrows(Type("text"), Type("varchar", (20,)))
    assert narrows(Type("numeric", (10, 2)), Type("numeric", (8, 2)))
    assert narrows(Type("text"), Type("int4"))
    assert not narrows(Type("int4"), Type("int8"))
    assert not narrows(Type("varchar", (20,)), Type("text"))


def test_a_rule_that_fails_is_reported_not_fatal(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from watoto_schema.lint import lint_files
    from watoto_schema.lint.rules import Walker

    def broken(self: Walker, node: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(Walker, "_on_IndexStmt", broken)
    path = tmp_path / "m.sql"
    path.write_text("CREATE INDEX i ON users (email);\nTRUNCATE users;\n")
    report = lint_files([path])
    assert [f.rule for f in report.findings] == ["truncate"]
    assert len(report.not_judged) == 1 and "m.sql:1:1 (KeyError: 'surprise')" in \
        report.not_judged[0]
