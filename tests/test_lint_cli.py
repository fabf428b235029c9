"""`watoto-schema lint` and the lint gate of `migrate` (#14): exit codes, renderings, parse
errors with their position, suppression, `[lint]`, the migration set as context, and the
refusal of unsafe pending migrations on a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from watoto_schema.sources import checksum
from watoto_schema.target import Target

from .test_cli import assert_one_line_error, run
from .test_engine import HEAD, q, write

UNSAFE_INDEX = f"-- depends: {HEAD}\nCREATE INDEX idx_users_last_login ON users (last_login);\n"
WARNING_ONLY = (f"-- depends: {HEAD}\n"
                "CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                "at timestamp);\n")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An extra migration folder; the working directory is its parent (relative paths)."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "migrations"
    path.mkdir()
    return path


def test_shipped_migrations_lint_clean() -> None:
    result = run("lint")
    assert result.exit_code == 0, result.output
    assert "0 error(s), 0 warning(s)" in result.stdout
    doc = json.loads(run("lint", "--json", "--strict").stdout)
    assert doc["findings"] == [] and doc["source"] == "all" and len(doc["files"]) >= 7
    assert all(a["reason"] for a in doc["allowed"])  # every allow says why


def test_an_unsafe_file_exits_2_with_a_compiler_style_line(folder: Path) -> None:
    write(folder, "1001_index", UNSAFE_INDEX)
    result = run("lint", "--migrations", "migrations", "migrations/1001_index.sql")
    assert result.exit_code == 2, result.output
    first = result.stdout.splitlines()[0]
    assert first == ("migrations/1001_index.sql:2:1: error index-not-concurrently: CREATE INDEX "
                     "on existing table users blocks its writes for the whole build")
    assert "lock: SHARE on users" in result.stdout and "fix: CREATE INDEX CONCURRENTLY" \
        in result.stdout
    assert result.stdout.rstrip().endswith("1 error(s), 0 warning(s) in 1 file(s)")


def test_json_document(folder: Path) -> None:
    write(folder, "1001_index", UNSAFE_INDEX)
    result = run("--json", "lint", "migrations/1001_index.sql")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    [finding] = doc["findings"]
    assert finding["rule"] == "index-not-concurrently" and finding["severity"] == "error"
    assert (finding["file"], finding["line"], finding["column"]) == (
        "migrations/1001_index.sql", 2, 1)
    assert finding["lock"] == "SHARE on users" and "write" in finding["blocks"]
    assert finding["statement"].startswith("CREATE INDEX idx_users_last_login")
    assert "CONCURRENTLY" in finding["rewrite"]
    assert doc["errors"] == 1 and doc["warnings"] == 0 and doc["source"] == "files"


def test_github_annotations(folder: Path) -> None:
    write(folder, "1001_index", UNSAFE_INDEX)
    result = run("lint", "--format", "github", "migrations/1001_index.sql")
    assert result.exit_code == 2
    line = result.stdout.splitlines()[0]
    assert line.startswith("::error file=migrations/1001_index.sql,line=2,col=1,"
                           "title=index-not-concurrently::CREATE INDEX on existing table users")
    assert "%0Afix: CREATE INDEX CONCURRENTLY" in line and "\n" not in line.strip()
    both = run("lint", "--format", "github", "--json", "migrations/1001_index.sql")
    assert both.exit_code == 1 and "not both" in both.stderr


def test_a_file_that_does_not_parse_exits_1_naming_line_and_column(folder: Path) -> None:
    write(folder, "1001_bad", "-- é: a non-ASCII comment first\nSELECT 1;\n"
                              "CREATE TABLEX foo (a int);\n")
    line = assert_one_line_error(run("lint", "migrations/1001_bad.sql"))
    assert line == ('error: migrations/1001_bad.sql:3:8: syntax error at or near "TABLEX"')
    github = run("lint", "--format", "github", "migrations/1001_bad.sql")
    assert github.exit_code == 1
    assert github.stdout.startswith("::error file=migrations/1001_bad.sql,line=3,col=8,")
    end = run("lint", str(write(folder, "1002_cut", "SELECT 1;\nCREATE TABLE t (a int\n")))
    assert end.exit_code == 1 and "1002_cut.sql:2:" in end.stderr


def test_warnings_exit_0_unless_strict(folder: Path) -> None:
    write(folder, "1001_notes", WARNING_ONLY)
    result = run("lint", "migrations/1001_notes.sql")
    assert result.exit_code == 0, result.output
    assert "warning timestamp-without-time-zone" in result.stdout
    assert run("lint", "--strict", "migrations/1001_notes.sql").exit_code == 2


def test_allow_on_the_statement_and_in_the_header(folder: Path) -> None:
    write(folder, "1001_a", f"-- depends: {HEAD}\n"
                            "-- lint: allow index-not-concurrently (users is tiny here)\n"
                            "CREATE INDEX idx_a ON users (last_login);\n")
    write(folder, "1002_b", f"-- depends: {HEAD}\n\n"
                            "-- lint: allow index-not-concurrently (reviewed: 5 rows)\n"
                            "CREATE INDEX idx_b ON users (last_login);\n"
                            "CREATE INDEX idx_c ON users (grade);\n")
    doc = json.loads(run("--json", "lint", "migrations/1001_a.sql",
                         "migrations/1002_b.sql").stdout)
    assert [(f["file"], f["line"]) for f in doc["findings"]] == [("migrations/1002_b.sql", 5)]
    assert sorted(a["reason"] for a in doc["allowed"]) == ["reviewed: 5 rows",
                                                           "users is tiny here"]


def test_lint_config_switches_rules_off_or_to_warnings(folder: Path) -> None:
    write(folder, "1001_index", UNSAFE_INDEX)
    write(folder, "1002_notes", WARNING_ONLY.replace(HEAD, "1001_index"))
    config = folder.parent / "watoto-schema.toml"
    config.write_text('[lint]\nindex-not-concurrently = "warning"\n'
                      'timestamp-without-time-zone = "off"\n')
    result = run("--json", "lint", "migrations/1001_index.sql", "migrations/1002_notes.sql")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [(f["rule"], f["severity"]) for f in doc["findings"]] == [
        ("index-not-concurrently", "warning")]
    config.write_text('[lint]\nno-such-rule = "off"\n')
    assert "no-such-rule" in assert_one_line_error(run("lint"))
    config.write_text('[lint]\ntruncate = "maybe"\n')
    assert "truncate" in assert_one_line_error(run("lint"))


def test_a_table_created_by_an_earlier_migration_is_existing(folder: Path) -> None:
    write(folder, "1001_notes", f"-- depends: {HEAD}\nCREATE TABLE notes (id bigint "
                                "GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text);\n"
                                "CREATE INDEX idx_notes_body ON notes (body);\n")
    write(folder, "1002_index", "-- depends: 1001_notes\n"
                                "CREATE INDEX idx_notes_body_2 ON notes (lower(body));\n")
    result = run("--json", "--migrations", "migrations", "lint", "--all")
    assert result.exit_code == 2, result.output
    doc = json.loads(result.stdout)
    assert [(f["file"], f["rule"]) for f in doc["findings"]] == [
        ("migrations/1002_index.sql", "index-not-concurrently")]


def test_new_writes_a_template_that_passes(folder: Path) -> None:
    for flag in ([], ["--non-transactional"]):
        assert run("--migrations", "migrations", "new", "add_notes", *flag).exit_code == 0
    result = run("--json", "--migrations", "migrations", "lint", "--strict")
    assert result.exit_code == 0, result.output
    after = int(HEAD[:4])
    assert {Path(f).name for f in json.loads(result.stdout)["files"]} >= {
        f"{after + 1:04d}_add_notes.sql", f"{after + 2:04d}_add_notes.sql"}


def test_lint_comments_do_not_change_a_migration_checksum() -> None:
    body = "CREATE TABLE t (a int);\n-- note\nTRUNCATE t;\n"
    allowed = body.replace("TRUNCATE t;", "TRUNCATE t; -- lint: allow truncate (why)")
    assert checksum(allowed) == checksum(body)
    assert checksum("-- lint: allow truncate (why)\n" + body) == checksum(body)
    assert checksum(body.replace("note", "lint note")) != checksum(body)  # other comments do


# -- with a database --------------------------------------------------------------------------

def test_lint_with_a_database_checks_only_what_is_pending(db: Target, folder: Path) -> None:
    dsn = ["--dsn", db.conninfo]
    result = run("lint", *dsn)
    assert result.exit_code == 0 and "no pending migrations" in result.stdout
    write(folder, "1001_index", UNSAFE_INDEX)
    result = run("--json", "lint", *dsn, "--migrations", "migrations")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["source"] == "pending" and doc["files"] == ["migrations/1001_index.sql"]
    everything = json.loads(run("--json", "lint", *dsn, "--migrations", "migrations",
                                "--all").stdout)
    assert everything["source"] == "all" and len(everything["files"]) > 1


def test_migrate_refuses_unsafe_migrations_unless_allowed(db: Target, folder: Path) -> None:
    write(folder, "1001_index", UNSAFE_INDEX, "DROP INDEX idx_users_last_login;\n")
    dsn = ["--dsn", db.conninfo, "--migrations", "migrations"]
    line = assert_one_line_error(run("migrate", *dsn), code=3)
    assert "migrations/1001_index.sql:2:1 index-not-concurrently" in line
    assert "--allow-unsafe" in line
    assert q(db, "SELECT to_regclass('idx_users_last_login')") == [(None,)]  # nothing ran
    assert q(db, "SELECT count(*) FROM schema_migrations WHERE version = '1001_index'") == [(0,)]

    dry = run("migrate", "--dry-run", *dsn)
    assert dry.exit_code == 0, dry.output
    lint_part, sql_part = dry.stdout.split("-- watoto-schema migrate --dry-run")
    assert "-- lint: migrations/1001_index.sql:2:1: error index-not-concurrently" in lint_part
    assert "-- lint:   fix: CREATE INDEX CONCURRENTLY" in lint_part
    assert "CREATE INDEX idx_users_last_login ON users (last_login);" in sql_part
    doc = json.loads(run("--json", "migrate", "--dry-run", *dsn).stdout)
    assert [f["rule"] for f in doc["lint"]] == ["index-not-concurrently"]

    applied = run("migrate", "--allow-unsafe", *dsn)
    assert applied.exit_code == 0, applied.output
    assert "applied 1001_index" in applied.stdout and "--allow-unsafe" in applied.stderr
    assert q(db, "SELECT to_regclass('idx_users_last_login') IS NOT NULL") == [(True,)]
    assert run("migrate", *dsn).stdout.strip() == "Nothing to do."  # applied: not linted again


def test_migrate_applies_safe_rewrites_and_warnings(db: Target, folder: Path) -> None:
    write(folder, "1001_index", f"-- depends: {HEAD}\n-- transactional: false\n"
                                "CREATE INDEX CONCURRENTLY idx_users_last_login ON users "
                                "(last_login);\n")
    write(folder, "1002_notes", WARNING_ONLY.replace(HEAD, "1001_index"))
    result = run("migrate", "--dsn", db.conninfo, "--migrations", "migrations")
    assert result.exit_code == 0, result.output
    assert "lint" not in result.stderr  # warnings do not hold up a run, nor clutter it
    assert q(db, "SELECT to_regclass('notes') IS NOT NULL") == [(True,)]


def test_concurrently_in_a_transactional_migration_is_refused(db: Target,
                                                              folder: Path) -> None:
    write(folder, "1001_index", UNSAFE_INDEX.replace("INDEX idx", "INDEX CONCURRENTLY idx"))
    line = assert_one_line_error(run("migrate", "--dsn", db.conninfo, "--migrations",
                                     "migrations"), code=3)
    assert "cannot-run-in-transaction" in line


def test_an_allow_added_to_an_applied_migration_keeps_it_verified(db: Target,
                                                                  folder: Path) -> None:
    path = write(folder, "1001_index", UNSAFE_INDEX)
    dsn = ["--dsn", db.conninfo, "--migrations", "migrations"]
    assert run("migrate", "--allow-unsafe", *dsn).exit_code == 0
    path.write_text(UNSAFE_INDEX.replace(
        ";\n", "; -- lint: allow index-not-concurrently (users had 10 rows then)\n"))
    assert run("verify", *dsn).exit_code == 0
    assert run("lint", "--all", *dsn).exit_code == 0
