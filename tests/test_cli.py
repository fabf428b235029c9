"""The CLI in-process (CliRunner) against real databases, including what new users get wrong."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg import sql

from watoto_schema.cli import cli
from watoto_schema.target import Target

from .conftest import Server

SECRET = "s3cr3t-Pa55"


def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    base: dict[str, str | None] = {"WATOTO_DATABASE_URL": None, "PGHOST": None,
                                   "PGDATABASE": None, "PGSERVICE": None, "PGUSER": None,
                                   "PGPORT": None, "PGHOSTADDR": None, "PGPASSWORD": None}
    base.update(env or {})
    return CliRunner().invoke(cli, list(args), env=base, catch_exceptions=False)


def assert_one_line_error(result: Result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output + result.stderr
    return lines[0]


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in ("migrate", "rollback", "status", "local", "sample-data"):
        assert command in result.stdout


def test_migrate_status_rollback_through_the_cli(empty_db: Target) -> None:
    dsn = ["--dsn", empty_db.conninfo]
    status = run(*dsn, "--json", "status")
    assert status.exit_code == 0
    doc = json.loads(status.stdout)
    assert doc["applied"] == 0 and doc["pending"] == len(doc["versions"]) > 0

    migrated = run(*dsn, "migrate", "--to", "0002")
    assert migrated.exit_code == 0, migrated.output
    assert "applied 0002_users" in migrated.stdout

    everything = run(*dsn, "--json", "migrate")
    assert everything.exit_code == 0
    applied = json.loads(everything.stdout)["versions"]
    assert applied[0] == "0003_courses"

    table = run(*dsn, "status")
    assert "applied" in table.stdout and "pending" in table.stdout  # column and summary
    assert f"{len(doc['versions'])} applied, 0 pending" in table.stdout

    back = run(*dsn, "rollback", "--steps", "2")
    assert back.exit_code == 0 and back.stdout.count("rolled back") == 3  # 2 lines + summary
    again = run(*dsn, "--json", "status")
    assert json.loads(again.stdout)["pending"] == 2


def test_database_url_from_the_environment(empty_db: Target) -> None:
    result = run("--json", "status", env={"WATOTO_DATABASE_URL": empty_db.conninfo})
    assert result.exit_code == 0
    assert json.loads(result.stdout)["applied"] == 0


def test_libpq_environment_is_used_when_nothing_else_is_given(empty_db: Target) -> None:
    params = psycopg.conninfo.conninfo_to_dict(empty_db.conninfo)
    env = {"PGHOST": str(params["host"]), "PGPORT": str(params["port"]),
           "PGDATABASE": str(params["dbname"]), "PGUSER": str(params["user"])}
    result = run("--json", "status", env=env)
    assert result.exit_code == 0, result.output


def test_rollback_needs_exactly_one_selector(db: Target) -> None:
    result = run("--dsn", db.conninfo, "rollback")
    assert result.exit_code == 1  # a usage error: 2 would read as "differences found"
    assert "exactly one of" in result.stderr


# -- errors a new user meets ---------------------------------------------------------------

def test_no_database_configured() -> None:
    line = assert_one_line_error(run("status"))
    assert "--dsn" in line and "WATOTO_DATABASE_URL" in line


def test_unreachable_host() -> None:
    line = assert_one_line_error(
        run("--dsn", "postgresql://nobody@127.0.0.1:1/watoto?connect_timeout=2", "migrate"))
    assert "cannot connect" in line


def test_database_missing(pg_server: Server) -> None:
    conninfo = pg_server.conninfo("no_such_database_here")
    line = assert_one_line_error(run("--dsn", conninfo, "status"))
    assert "no_such_database_here" in line and "does not exist" in line


def test_malformed_dsn_does_not_echo_the_password() -> None:
    result = run("--dsn", f"host=localhost password={SECRET} bogus_option=1", "status")
    line = assert_one_line_error(result)
    assert SECRET not in result.output + result.stderr
    assert "invalid connection" in line


@pytest.fixture
def password_role(pg_server: Server) -> Iterator[str]:
    if pg_server.tcp_port is None:
        pytest.skip("the test server offers no password-authenticated TCP access")
    with pg_server.admin() as conn:
        conn.execute(sql.SQL("CREATE ROLE watoto_pw LOGIN PASSWORD {}").format(sql.Literal(SECRET)))
    try:
        yield f"postgresql://watoto_pw:{{}}@127.0.0.1:{pg_server.tcp_port}/postgres"
    finally:
        with pg_server.admin() as conn:
            conn.execute("DROP ROLE watoto_pw")


def test_wrong_password_is_one_line_without_the_password(password_role: str) -> None:
    result = run("--dsn", password_role.format("not-" + SECRET), "status")
    line = assert_one_line_error(result)
    assert "password authentication failed" in line
    assert SECRET not in result.output + result.stderr


def test_right_password_never_appears_in_output(password_role: str) -> None:
    url = password_role.format(SECRET)
    ok = run("--dsn", url, "--json", "status")
    assert ok.exit_code == 0, ok.output
    assert SECRET not in ok.output
    assert "***" in json.loads(ok.stdout)["target"]
    failing = run("--dsn", url, "--debug", "migrate", "--to", "9999")
    assert failing.exit_code == 1
    assert SECRET not in failing.output + failing.stderr


def test_unknown_version_is_an_error(db: Target) -> None:
    line = assert_one_line_error(run("--dsn", db.conninfo, "migrate", "--to", "9999"))
    assert "unknown migration version '9999'" in line


def test_failing_migration_is_one_line_and_rolled_back(db: Target, tmp_path: Path) -> None:
    (tmp_path / "1001_bad.sql").write_text(
        "-- depends: 0007_views\nCREATE TABLE t (x nosuchtype);\n")
    result = run("--dsn", db.conninfo, "--migrations", str(tmp_path), "migrate")
    line = assert_one_line_error(result)
    assert "1001_bad" in line and "nosuchtype" in line


def test_debug_shows_the_traceback(db: Target) -> None:
    result = run("--dsn", db.conninfo, "--debug", "migrate", "--to", "9999")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr


def test_migration_lock_held_exits_3(empty_db: Target, connections: Any) -> None:
    from watoto_schema.migrate import LOCK_CLASS, LOCK_MIGRATE

    holder = connections(empty_db, application_name="someone-else")
    holder.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, LOCK_MIGRATE))
    result = run("--dsn", empty_db.conninfo, "migrate", "--lock-wait", "0.3")
    line = assert_one_line_error(result, code=3)
    assert "someone-else" in line and f"pid {holder.info.backend_pid}" in line


def test_config_file_adds_migration_folders(db: Target, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    ours = tmp_path / "db" / "migrations"
    ours.mkdir(parents=True)
    (ours / "1001_notes.sql").write_text("-- depends: 0007_views\nCREATE TABLE notes (id int);\n")
    (tmp_path / "watoto-schema.toml").write_text('migrations = ["db/migrations"]\n')
    monkeypatch.chdir(tmp_path)
    result = run("--dsn", db.conninfo, "--json", "migrate")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["versions"] == ["1001_notes"]
    (tmp_path / "watoto-schema.toml").write_text('migration = ["db/migrations"]\n')
    line = assert_one_line_error(run("--dsn", db.conninfo, "status"))
    assert "unknown setting(s) migration" in line

