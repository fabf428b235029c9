"""Pointed at a read-only standby, every command that writes refuses in one line (exit 3)
before any work, and the commands that only read still answer (#12, first part)."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from watoto_schema import migrate
from watoto_schema.local import LocalCluster
from watoto_schema.target import Target

from .test_cli import assert_one_line_error, run

WRITERS = [
    ["migrate"],
    ["rollback", "--steps", "1"],
    ["repair"],
    ["baseline"],
    ["partitions", "ensure"],
    ["partitions", "create", "--table", "enrollments", "--from", "2040-01-01", "--to",
     "2041-01-01"],
    ["partitions", "retire", "--table", "enrollments", "--older-than", "50 years",
     "--detach"],
    ["maintain", "run"],
    ["maintain", "analyze"],
    ["maintain", "vacuum", "--table", "courses"],
    ["maintain", "reindex", "--index", "idx_courses_category"],
    ["sample-data", "--students", "10"],
    ["testdb", "provision"],
    ["testdb", "gc"],
]
READERS = [["status"], ["verify"], ["migrate", "--dry-run"], ["partitions", "list"],
           ["maintain", "plan"], ["partitions", "ensure", "--dry-run"]]


@pytest.fixture(scope="module")
def standby(primary_and_standby: tuple[Target, Target, LocalCluster]) -> Target:
    """The standby of a migrated primary, caught up."""
    primary, standby, _ = primary_and_standby
    migrate.migrate(primary)
    with psycopg.connect(primary.conninfo, autocommit=True) as conn:
        lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
    deadline = time.monotonic() + 30
    with psycopg.connect(standby.conninfo, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn",
                               (lsn,)).fetchone()
            if row and row[0]:
                break
            time.sleep(0.1)
    return standby


def _catalog(target: Target) -> Any:
    with psycopg.connect(target.conninfo) as conn:
        return conn.execute("SELECT count(*), (SELECT count(*) FROM schema_migrations) "
                            "FROM pg_class").fetchone()


@pytest.mark.parametrize("argv", WRITERS, ids=" ".join)
def test_a_writing_command_refuses_a_standby(standby: Target, argv: list[str]) -> None:
    before = _catalog(standby)
    line = assert_one_line_error(run(*argv, "--dsn", standby.conninfo), code=3)
    assert "read-only standby" in line and "target_session_attrs=read-write" in line
    assert _catalog(standby) == before


@pytest.mark.parametrize("argv", READERS, ids=" ".join)
def test_a_reading_command_answers_on_a_standby(standby: Target, argv: list[str]) -> None:
    result = run(*argv, "--dsn", standby.conninfo)
    assert result.exit_code in (0, 2), result.output  # 2: a check found something
    assert "read-only standby" not in result.stderr


def _folder(tmp_path: Any, name: str, body: str) -> str:
    folder = tmp_path / "migrations"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.sql").write_text(f"-- depends: 0007_views\n{body}\n")
    return str(folder)


def test_migrate_waits_until_the_standby_has_replayed(
        primary_and_standby: tuple[Target, Target, LocalCluster], standby: Target,
        tmp_path: Any) -> None:
    primary = primary_and_standby[0]
    folder = _folder(tmp_path, "1001_notes", "CREATE TABLE notes (id bigint PRIMARY KEY);")
    result = run("migrate", "--wait-replicas", "--migrations", folder, "--dsn",
                 primary.conninfo)
    assert result.exit_code == 0, result.output
    assert "1001_notes: replayed by 1 standby(s)" in result.stderr
    with psycopg.connect(standby.conninfo) as conn:  # at once: the run waited for it
        assert conn.execute("SELECT to_regclass('notes') IS NOT NULL").fetchone() == (True,)


def test_a_standby_behind_ends_the_run_with_what_was_applied_kept(
        primary_and_standby: tuple[Target, Target, LocalCluster], standby: Target,
        tmp_path: Any) -> None:
    primary = primary_and_standby[0]
    with psycopg.connect(standby.conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
    try:
        _folder(tmp_path, "1001_notes", "CREATE TABLE notes (id bigint PRIMARY KEY);")
        folder = _folder(tmp_path, "1002_more", "-- depends: 1001_notes\n"
                                                "CREATE TABLE more_notes (id bigint);")
        result = run("migrate", "--wait-replicas=1s", "--migrations", folder, "--dsn",
                     primary.conninfo)
        line = assert_one_line_error(result, code=3)
        assert "after 1002_more" in line and "bytes behind" in line
        with psycopg.connect(primary.conninfo) as conn:
            applied = conn.execute("SELECT count(*) FROM schema_migrations "
                                   "WHERE version = '1002_more'").fetchone()
        assert applied == (1,)  # committed on the primary; a re-run finds nothing to do
        assert run("migrate", "--migrations", folder, "--dsn",
                   primary.conninfo).stdout.strip() == "Nothing to do."
    finally:
        with psycopg.connect(standby.conninfo, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")


def test_concurrent_builds_wait_while_a_standby_lags(
        primary_and_standby: tuple[Target, Target, LocalCluster], standby: Target,
        tmp_path: Any) -> None:
    primary = primary_and_standby[0]
    _folder(tmp_path, "1001_notes", "CREATE TABLE notes (id bigint PRIMARY KEY);")
    _folder(tmp_path, "1002_more", "-- depends: 1001_notes\n"
                                   "CREATE TABLE more_notes (id bigint);")
    folder = _folder(tmp_path, "1003_index", "-- transactional: false\n"
                                             "CREATE INDEX CONCURRENTLY idx_more_notes_id "
                                             "ON more_notes (id);")
    with psycopg.connect(standby.conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
    try:
        migrate.migrate(primary, extra_dirs=[str(tmp_path / "migrations")], to="1002_more")
        with psycopg.connect(primary.conninfo, autocommit=True) as conn:  # ~3 MB of WAL
            conn.execute("INSERT INTO more_notes SELECT g FROM generate_series(1, 50000) g")
        lagging = run("migrate", "--max-replica-lag", "100kB", "--replica-lag-wait", "1s",
                      "--migrations", folder, "--dsn", primary.conninfo)
        assert lagging.exit_code == 3, lagging.output
        waiting, line = lagging.stderr.strip().splitlines()  # a note while it waits, the error
        assert waiting.startswith("waiting before a statement of 1003_index")
        assert "lag more than --max-replica-lag before a statement of 1003_index" in line
        with psycopg.connect(primary.conninfo) as conn:
            assert conn.execute("SELECT to_regclass('idx_more_notes_id')").fetchone() == (None,)
    finally:
        with psycopg.connect(standby.conninfo, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
    caught_up = run("migrate", "--max-replica-lag", "100kB", "--migrations", folder, "--dsn",
                    primary.conninfo)
    assert caught_up.exit_code == 0, caught_up.output
    with psycopg.connect(primary.conninfo) as conn:
        assert conn.execute("SELECT to_regclass('idx_more_notes_id') IS NOT NULL"
                            ).fetchone() == (True,)
    assert_one_line_error(run("migrate", "--max-replica-lag", "lots", "--dsn",
                              primary.conninfo))


def test_maintenance_pauses_its_heavy_operations_while_a_standby_lags(
        primary_and_standby: tuple[Target, Target, LocalCluster], standby: Target) -> None:
    primary = primary_and_standby[0]
    dsn = ["--dsn", primary.conninfo]
    with psycopg.connect(standby.conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
    try:
        with psycopg.connect(primary.conninfo, autocommit=True) as conn:  # ~3 MB of WAL
            conn.execute("CREATE TABLE wal_ballast AS SELECT g FROM generate_series(1, 50000) g")
        lagging = run("maintain", "vacuum", "--table", "courses", "--max-replica-lag", "100kB",
                      "--replica-lag-wait", "1s", *dsn)
        assert lagging.exit_code == 3, lagging.output
        waiting, line = lagging.stderr.strip().splitlines()  # a note while it waits, the error
        assert waiting.startswith("waiting before VACUUM")
        assert "lag more than --max-replica-lag before VACUUM" in line
        assert "0 of 1 operation(s) had run" in line
        # ANALYZE writes little WAL: it does not wait.
        analyzed = run("maintain", "analyze", "--table", "courses", "--max-replica-lag",
                       "100kB", "--replica-lag-wait", "1s", *dsn)
        assert analyzed.exit_code == 0, analyzed.output
    finally:
        with psycopg.connect(standby.conninfo, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
    vacuumed = run("maintain", "vacuum", "--table", "courses", "--max-replica-lag", "100kB",
                   *dsn)
    assert vacuumed.exit_code == 0, vacuumed.output
    with psycopg.connect(primary.conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE wal_ballast")
