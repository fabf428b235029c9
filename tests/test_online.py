"""Online (expand/contract) migrations on real PostgreSQL (issue #20, docs/online.md).

The scenario folders of ``tests/online/`` each run an operation through expand, both
versions written at once, contract, and (on a copy of the active database) abort; the other
tests cover resuming after ``kill -9``, refusals, waiting, and the CLI's bad input.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg import sql

from watoto_schema import drift as drift_lib
from watoto_schema import migrate
from watoto_schema.cli import cli
from watoto_schema.errors import (
    BackfillFailed,
    BadMigration,
    MigrationBlocked,
    NotOnline,
    OnlineActive,
    Refused,
)
from watoto_schema.migrate import RunOptions, online
from watoto_schema.target import Target

from .conftest import Server

SCENARIOS = Path(__file__).parent / "online"
CASES = sorted(p.name for p in SCENARIOS.iterdir() if p.is_dir())
LAST_SHIPPED = "0011_course_search_terms"
OLD_PATH = f"watoto_{LAST_SHIPPED}, public"


def write_migration(folder: Path, version: str, body: str, depends: str = LAST_SHIPPED,
                    online_header: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    header = f"-- depends: {depends}\n" + ("-- online: true\n" if online_header else "")
    path = folder / f"{version}.sql"
    path.write_text(header + body)
    return path


def dbname(target: Target) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(target.conninfo)["dbname"])


def statements(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [s.strip() for s in path.read_text().split(";\n") if s.strip()]


def table_hashes(target: Target) -> dict[str, str]:
    """One hash per table of the rows that existed before the test's writes (ids < 90000),
    columns in name order, so that column order (a shadow column comes last) does not count."""
    out: dict[str, str] = {}
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        tables = conn.execute(
            """
            SELECT c.relname, (SELECT array_agg(a.attname ORDER BY a.attname)
                                 FROM pg_attribute a
                                WHERE a.attrelid = c.oid AND a.attnum > 0
                                  AND NOT a.attisdropped),
                   (SELECT a.attname || ':' || format_type(a.atttypid, NULL)
                      FROM pg_constraint k
                      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.conkey[1]
                     WHERE k.conrelid = c.oid AND k.contype = 'p')
              FROM pg_class c
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
               AND NOT c.relispartition AND c.relname NOT LIKE '%yoyo%'
               AND c.relname NOT LIKE 'watoto\\_%' AND c.relname <> 'schema_migrations'
            """).fetchall()
        for name, columns, key in tables:
            if key is None:
                continue
            key, key_type = key.split(":")
            # rows the scenarios write have ids from 90000 (or an @online.test email)
            where = (sql.SQL("{} < 90000") if key_type in ("integer", "bigint")
                     else sql.SQL("{}::text NOT LIKE '%%@online.test'"))
            row_text = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c))
                                          for c in columns)
            row = conn.execute(sql.SQL(
                "SELECT md5(coalesce(string_agg(concat_ws('|', {cols}), E'\\n' ORDER BY {key}), "
                "'')) FROM {table} WHERE {where}").format(
                    cols=row_text, key=sql.Identifier(key), table=sql.Identifier(name),
                    where=where.format(sql.Identifier(key))))
            out[name] = str(row.fetchone()[0])  # type: ignore[index]
    return out


def check(target: Target, path: Path) -> None:
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        for query in statements(path):
            row = conn.execute(query).fetchone()
            assert row is not None and row[0] is True, f"{path.name}: {query} gave {row}"


def assert_no_drift(target: Target, folder: Path) -> None:
    [report] = drift_lib.drift(target, extra_dirs=[folder], use_cache=False)
    assert report.differences == [], [(d.kind, d.name, d.change) for d in report.differences]


def write_through_both_versions(target: Target, case: Path, new_schema: str) -> None:
    """``old.sql`` and ``new.sql``, statement by statement in turn, on two sessions."""
    old = psycopg.connect(target.conninfo, autocommit=True,
                          options=f"-c search_path={OLD_PATH.replace(' ', '')}")
    new = psycopg.connect(target.conninfo, autocommit=True,
                          options=f"-c search_path={new_schema},public")
    try:
        olds, news = statements(case / "old.sql"), statements(case / "new.sql")
        for i in range(max(len(olds), len(news))):
            for conn, batch in ((old, olds), (new, news)):
                if i < len(batch):
                    conn.execute(batch[i])
    finally:
        old.close()
        new.close()


@pytest.fixture
def clones(pg_server: Server) -> Iterator[Any]:
    made: list[str] = []

    def clone(source: Target, suffix: str) -> Target:
        name = f"{dbname(source)}_{suffix}"
        pg_server.create_db(name, template=dbname(source))
        made.append(name)
        return Target(pg_server.conninfo(name), "tests")

    yield clone
    for name in made:
        pg_server.drop_db(name)


@pytest.mark.watoto(students=20)
@pytest.mark.parametrize("case", CASES)
def test_operation_expand_both_versions_complete_and_abort(case: str, db: Target,
                                                           tmp_path: Path, clones: Any) -> None:
    folder = SCENARIOS / case
    migrations = tmp_path / "migrations"
    version = f"1001_{case}"[:60]
    write_migration(migrations, version, (folder / "migration.sql").read_text())
    before = table_hashes(db)
    plain = clones(db, "plain")  # the plain ALTER of the same statements, for comparison
    reference = folder / "plain.sql"  # when the plain ALTER needs data fixed first
    with psycopg.connect(plain.conninfo) as conn:
        conn.execute((reference if reference.exists() else folder / "migration.sql")
                     .read_text())
    expected_after = table_hashes(plain)

    result = migrate.migrate(db, extra_dirs=[migrations],
                             options=RunOptions(batch_rows=7))
    assert result.done == [] and result.online is not None
    assert result.online.phase == "active"
    new_schema = result.online.plan["new_schema"]
    assert_no_drift(db, migrations)
    write_through_both_versions(db, folder, new_schema)

    aborted = clones(db, "abort")
    done = migrate.migrate(db, extra_dirs=[migrations], options=RunOptions(complete=True))
    assert done.done == [version]
    check(db, folder / "check.sql")
    assert table_hashes(db) == expected_after
    assert_no_drift(db, migrations)
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'watoto\\_%'"
                            ).fetchone() == (0,)
        # no shadow name left anywhere: tables, views, indexes (an index names its columns)
        assert conn.execute("SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = "
                            "a.attrelid WHERE attname LIKE '\\_w\\_%' AND NOT attisdropped "
                            "AND c.relnamespace = 'public'::regnamespace").fetchone() == (0,)
    assert migrate.status(db, extra_dirs=[migrations]).pending == []

    undone = migrate.rollback(aborted, steps=1, extra_dirs=[migrations])
    assert undone.done == [version]
    check(aborted, folder / "check_abort.sql")
    assert table_hashes(aborted) == before
    assert_no_drift(aborted, migrations)
    assert migrate.status(aborted, extra_dirs=[migrations]).pending == [version]


@pytest.mark.watoto(students=20)
def test_a_second_online_migration_waits_for_the_first(db: Target, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    write_migration(folder, "1001_rename", "ALTER TABLE courses RENAME COLUMN title TO name;\n")
    write_migration(folder, "1002_default", "ALTER TABLE courses ALTER COLUMN max_students "
                    "SET DEFAULT 40;\n", depends="1001_rename")
    first = migrate.migrate(db, extra_dirs=[folder])
    assert first.online.version == "1001_rename" and first.done == []
    with pytest.raises(OnlineActive, match="1002_default"):
        migrate.migrate(db, extra_dirs=[folder])
    report = migrate.status(db, extra_dirs=[folder])
    assert [(v.version, v.state) for v in report.versions[-2:]] == [
        ("1001_rename", "active"), ("1002_default", "pending")]
    assert migrate.migrate(db, extra_dirs=[folder],
                           options=RunOptions(complete=True)).done == ["1001_rename"]
    second = migrate.migrate(db, extra_dirs=[folder])
    assert second.online.version == "1002_default"
    # the new version's view has the new default at once; the table only at the contract
    with psycopg.connect(db.conninfo, autocommit=True,
                         options="-c search_path=watoto_1002_default,public") as conn:
        assert conn.execute("SELECT column_default FROM information_schema.columns WHERE "
                            "table_schema = 'watoto_1002_default' AND column_name = "
                            "'max_students'").fetchone() == ("40",)
    migrate.migrate(db, extra_dirs=[folder], options=RunOptions(complete=True))


@pytest.mark.watoto(students=20)
def test_unsupported_statements_are_refused_before_anything_runs(db: Target,
                                                                 tmp_path: Path) -> None:
    folder = tmp_path / "m"
    write_migration(folder, "1001_view", "CREATE VIEW v AS SELECT 1 AS one;\n")
    with pytest.raises(NotOnline, match="CREATE VIEW|VIEW"):
        migrate.migrate(db, extra_dirs=[folder])
    (folder / "1001_view.sql").unlink()
    # refused from the catalog: the column is mirrored in a key table (decision 0001)
    write_migration(folder, "1001_email", "ALTER TABLE users ALTER COLUMN email TYPE text;\n")
    with pytest.raises(NotOnline, match="users_sync_email_key"):
        migrate.migrate(db, extra_dirs=[folder])
    (folder / "1001_email.sql").unlink()
    write_migration(folder, "1001_unique", "ALTER TABLE users ADD CONSTRAINT users_email_id "
                    "UNIQUE (email, id);\n")
    with pytest.raises(NotOnline, match="one column"):
        migrate.migrate(db, extra_dirs=[folder])
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM watoto_online_migration").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'watoto\\_%'"
                            ).fetchone() == (0,)
    assert migrate.status(db, extra_dirs=[folder]).pending == ["1001_unique"]
    # --allow-unsafe runs it as one plain transaction
    done = migrate.migrate(db, extra_dirs=[folder], options=RunOptions(allow_unsafe=True))
    assert done.done == ["1001_unique"] and done.online is None


@pytest.mark.watoto(students=20)
def test_down_expressions_are_checked_before_anything_runs(db: Target, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    write_migration(folder, "1001_tz", "-- online: down last_login AT TIME ZONE\n"
                    "ALTER TABLE users ALTER COLUMN last_login TYPE timestamptz;\n")
    with pytest.raises(BadMigration, match="not an SQL expression"):
        migrate.migrate(db, extra_dirs=[folder])
    write_migration(folder, "1001_tz", "-- online: down last_login + interval '1 hour'\n"
                    "ALTER TABLE users ALTER COLUMN last_login TYPE timestamptz;\n")
    with pytest.raises(Refused, match="does not give back"):
        migrate.migrate(db, extra_dirs=[folder])
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        assert online.active(conn) is None


@pytest.mark.watoto(students=20)
def test_a_failing_using_stops_the_backfill_naming_the_row(db: Target, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute("UPDATE courses SET duration = 'six weeks' WHERE id = (SELECT max(id) "
                     "FROM courses)")
        bad = conn.execute("SELECT max(id) FROM courses").fetchone()[0]  # type: ignore[index]
        conn.execute("UPDATE courses SET duration = '12' WHERE id <> %s", (bad,))
        before = table_hashes(db)
    write_migration(folder, "1001_duration", "-- online: down duration::varchar(100)\n"
                    "ALTER TABLE courses ALTER COLUMN duration TYPE integer "
                    "USING duration::integer;\n")
    with pytest.raises(BackfillFailed, match=rf"\(id\)=\({bad}\)"):
        migrate.migrate(db, extra_dirs=[folder], options=RunOptions(batch_rows=3))
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        state = online.active(conn)
    assert state is not None and state.phase == "expanding"
    assert migrate.rollback(db, steps=1, extra_dirs=[folder]).done == ["1001_duration"]
    assert table_hashes(db) == before


def cli_run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def assert_one_line(result: Result, code: int) -> str:
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.watoto(students=20)
def test_cli_status_lint_and_bad_input(db: Target, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    dsn = ["--dsn", db.conninfo, "--migrations", str(folder)]
    write_migration(folder, "1001_nn", "ALTER TABLE users ALTER COLUMN is_active SET NOT NULL;\n")
    line = assert_one_line(cli_run(*dsn, "migrate", "--complete"), 1)
    assert "no online migration is active" in line
    lint = cli_run(*dsn, "lint", "--json", str(folder / "1001_nn.sql"))
    assert lint.exit_code == 0, lint.output
    report = json.loads(lint.stdout)
    assert report["errors"] == 0 and report["allowed"]
    assert "run online" in report["allowed"][0]["reason"]
    started = cli_run(*dsn, "--json", "migrate")
    assert started.exit_code == 0, started.output
    status = cli_run(*dsn, "--json", "status")
    doc = json.loads(status.stdout)
    assert doc["online"]["phase"] == "active"
    assert doc["online"]["backfill"]["rows_done"] >= doc["online"]["backfill"]["rows_total"] > 0
    assert [v["search_path"] for v in doc["online"]["versions"]] == [
        OLD_PATH, "watoto_1001_nn, public"]
    # a later plain migration that lint refuses: it waits, and --complete does not lint it
    write_migration(folder, "1002_more", "ALTER TABLE assessments ALTER COLUMN passing_score "
                    "TYPE bigint;\n",
                    depends="1001_nn", online_header=False)
    assert "1001_nn is active" in assert_one_line(cli_run(*dsn, "migrate"), 3)
    drift = cli_run(*dsn, "drift")
    assert drift.exit_code == 0, drift.output
    dry = cli_run(*dsn, "migrate", "--complete", "--dry-run")
    assert dry.exit_code == 0 and "contract steps 1.." in dry.output, dry.output
    done = cli_run(*dsn, "migrate", "--complete")
    assert done.exit_code == 0 and "applied 1001_nn" in done.output, done.output
    assert "rewrite-column-type" in assert_one_line(cli_run(*dsn, "migrate"), 3)


def test_bad_online_header_is_one_line(tmp_path: Path, db: Target) -> None:
    folder = tmp_path / "m"
    write_migration(folder, "1001_x", "SELECT 1;\n", online_header=False)
    (folder / "1001_x.sql").write_text(f"-- depends: {LAST_SHIPPED}\n-- online: maybe\n"
                                       "SELECT 1;\n")
    line = assert_one_line(cli_run("--dsn", db.conninfo, "--migrations", str(folder),
                                   "migrate"), 1)
    assert "online" in line


def _progress(target: Target) -> tuple[str | None, int, int]:
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        state = online.active(conn)
        if state is None:
            return None, 0, 0
        return state.phase, state.step, state.rows_done


def _spawn(target: Target, folder: Path, *args: str) -> subprocess.Popen[str]:
    code = "import sys; from watoto_schema.cli import main; main(sys.argv[1:])"
    return subprocess.Popen([sys.executable, "-c", code, "--dsn", target.conninfo,
                             "--migrations", str(folder), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ})


def _wait_for(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.watoto(students=200)
def test_kill_9_in_the_backfill_and_in_the_contract_then_carry_on(db: Target, tmp_path: Path,
                                                                  clones: Any) -> None:
    folder = tmp_path / "m"
    write_migration(folder, "1001_tz", "-- online: down last_login AT TIME ZONE 'UTC'\n"
                    "ALTER TABLE users ALTER COLUMN last_login TYPE timestamptz "
                    "USING last_login AT TIME ZONE 'UTC';\n")
    original = table_hashes(db)
    runner = _spawn(db, folder, "migrate", "--batch-size", "10", "--batch-pause", "0.1")
    _wait_for(lambda: _progress(db)[2] >= 30)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    phase, _, done_at_kill = _progress(db)
    assert phase == "expanding"
    time.sleep(0.5)  # the killed session's transaction is gone (client_connection_check)
    assert _progress(db)[2] == done_at_kill  # nothing moves without a runner

    copy = clones(db, "killed")  # to abort from the same point
    resumed = migrate.migrate(db, extra_dirs=[folder], options=RunOptions(batch_rows=50))
    assert resumed.online.phase == "active"
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        rows = conn.execute("SELECT count(*) FROM users").fetchone()[0]  # type: ignore[index]
        assert resumed.online.rows_done == rows  # carried on: no row counted twice
        assert conn.execute("SELECT count(*) FROM users WHERE _w_last_login IS DISTINCT FROM "
                            "last_login AT TIME ZONE 'UTC'").fetchone() == (0,)
    assert migrate.rollback(copy, steps=1, extra_dirs=[folder]).done == ["1001_tz"]
    assert table_hashes(copy) == original

    # the contract, killed while it retries a lock another session holds
    blocker = psycopg.connect(db.conninfo)
    blocker.execute("SELECT count(*) FROM users")  # ACCESS SHARE until the transaction ends
    runner = _spawn(db, folder, "migrate", "--complete")
    _wait_for(lambda: _progress(db)[0] == "completing" and _progress(db)[1] >= 1)
    time.sleep(0.5)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    assert _progress(db)[0] == "completing"
    with pytest.raises(Refused, match="cannot be aborted"):
        migrate.rollback(db, steps=1, extra_dirs=[folder])
    blocker.rollback()
    blocker.close()
    done = migrate.migrate(db, extra_dirs=[folder], options=RunOptions(complete=True))
    assert done.done == ["1001_tz"]
    assert_no_drift(db, folder)


@pytest.mark.watoto(students=20)
def test_a_blocked_contract_names_the_blocking_session(db: Target, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    write_migration(folder, "1001_rename", "ALTER TABLE courses RENAME COLUMN title TO name;\n")
    migrate.migrate(db, extra_dirs=[folder])
    with psycopg.connect(db.conninfo, application_name="report-job") as blocker:
        blocker.execute("SELECT count(*) FROM courses")  # ACCESS SHARE until it ends
        pid = blocker.info.backend_pid
        with pytest.raises(MigrationBlocked, match=rf"pid {pid}, application report-job"):
            migrate.migrate(db, extra_dirs=[folder],
                            options=RunOptions(complete=True, online_retries=3))
        blocker.rollback()
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        state = online.active(conn)
        assert state is not None and state.phase == "completing"
    assert migrate.migrate(db, extra_dirs=[folder],
                           options=RunOptions(complete=True)).done == ["1001_rename"]
