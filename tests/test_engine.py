"""The migration engine DBAs can trust (#3): checksums, locking, kills, lock_timeout, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from watoto_schema import migrate
from watoto_schema.catalog import snapshot
from watoto_schema.errors import (
    MigrationBlocked,
    MigrationEdited,
    MigrationFailed,
    MigrationMissing,
    Refused,
)
from watoto_schema.migrate import RunOptions
from watoto_schema.sources import checksum
from watoto_schema.target import Target

from .test_cli import run
from .test_migrations import SHIPPED

HEAD = SHIPPED[-1]
SCRIPT = str(Path(sys.executable).parent / "watoto-schema")


def write(folder: Path, name: str, body: str, rollback: str | None = None) -> Path:
    path = folder / f"{name}.sql"
    path.write_text(textwrap.dedent(body))
    if rollback is not None:
        (folder / f"{name}.rollback.sql").write_text(textwrap.dedent(rollback))
    return path


def q(target: Target, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


# -- checksums, verify, repair ---------------------------------------------------------------

def test_checksum_ignores_whitespace_but_not_tokens_literals_or_comments() -> None:
    base = "CREATE TABLE t (a int, b text DEFAULT 'x  y');\n-- note\n"
    assert checksum(base) == checksum("CREATE   TABLE t(\n  a int,\n\tb text DEFAULT 'x  y'\n);"
                                      "\n\n--   note\n")
    assert checksum(base) != checksum(base.replace("int", "bigint"))
    assert checksum(base) != checksum(base.replace("'x  y'", "'x y'"))
    assert checksum(base) != checksum(base.replace("note", "other note"))
    assert checksum("SELECT f(1)") == checksum("SELECT f ( 1 )")
    body = "CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $fn$ SELECT  1 $fn$;"
    assert checksum(body) != checksum(body.replace("SELECT  1", "SELECT 2"))


def test_edited_migration_is_found_refused_and_repaired(db: Target, tmp_path: Path) -> None:
    path = write(tmp_path, "1001_notes", f"""\
        -- depends: {HEAD}
        CREATE TABLE notes (id int);
        """, "DROP TABLE notes;\n")
    dirs = [tmp_path]
    migrate.migrate(db, extra_dirs=dirs)
    assert migrate.verify(db, extra_dirs=dirs).clean

    path.write_text(path.read_text().replace("CREATE TABLE notes (id int);",
                                             "CREATE TABLE notes (\n    id int\n);\n\n"))
    assert migrate.verify(db, extra_dirs=dirs).clean  # whitespace only

    path.write_text(path.read_text().replace("id int", "id bigint"))
    (tmp_path / "1001_notes.rollback.sql").write_text("DROP TABLE IF EXISTS notes;\n")
    report = migrate.verify(db, extra_dirs=dirs)
    assert report.edited == ["1001_notes"] and report.rollback_edited == ["1001_notes"]
    assert not report.clean
    write(tmp_path, "1002_more", "-- depends: 1001_notes\nCREATE TABLE more (id int);\n")
    with pytest.raises(MigrationEdited, match="1001_notes") as info:
        migrate.migrate(db, extra_dirs=dirs)
    assert info.value.exit_code == 3 and str(path) in str(info.value)
    assert q(db, "SELECT to_regclass('more')") == [(None,)]  # nothing ran

    cli = run("--dsn", db.conninfo, "--migrations", str(tmp_path), "--json", "verify")
    assert cli.exit_code == 2
    assert json.loads(cli.stdout)["edited"] == ["1001_notes"]

    assert migrate.repair(db, extra_dirs=dirs).done == ["1001_notes"]
    assert migrate.verify(db, extra_dirs=dirs).pending == ["1002_more"]
    assert migrate.migrate(db, extra_dirs=dirs).done == ["1002_more"]
    assert run("--dsn", db.conninfo, "--migrations", str(tmp_path), "verify").exit_code == 0


def test_history_records_who_and_how_long(db: Target) -> None:
    rows = q(db, "SELECT version, checksum, applied_by, duration_ms, state "
                 "FROM watoto_migration_history ORDER BY 1")
    assert [r[0] for r in rows] == SHIPPED
    for _, check, by, ms, state in rows:
        assert len(check) == 64 and "postgres" in by and ms is not None and state == "applied"


def test_applied_migration_without_its_folder_is_refused(db: Target, tmp_path: Path) -> None:
    write(tmp_path, "1001_local", f"-- depends: {HEAD}\nCREATE TABLE local_t (id int);\n")
    migrate.migrate(db, extra_dirs=[tmp_path])
    with pytest.raises(MigrationMissing, match="1001_local"):
        migrate.migrate(db)
    assert migrate.verify(db).missing == ["1001_local"]
    assert [v.state for v in migrate.status(db).versions][-1] == "missing"


# -- locking: concurrent runs, kill -9 -----------------------------------------------------

def test_eight_concurrent_runs_apply_each_migration_exactly_once(empty_db: Target) -> None:
    procs = [subprocess.Popen([SCRIPT, "--dsn", empty_db.conninfo, "--json", "migrate"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err for _, err in outputs]
    applied = [v for out, _ in outputs for v in json.loads(out)["versions"]]
    assert sorted(applied) == SHIPPED  # one run did everything, the others found nothing
    per_version = q(empty_db, "SELECT migration_id, count(*) FROM _yoyo_log "
                              "WHERE operation = 'apply' GROUP BY 1 ORDER BY 1")
    assert per_version == [(v, 1) for v in SHIPPED]
    assert q(empty_db, "SELECT count(*) FROM schema_migrations") == [(len(SHIPPED),)]


def _wait_for(target: Target, condition: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if q(target, condition)[0][0]:
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {condition}")


SLEEPY = """\
    -- depends: {head}
    CREATE TABLE sleepy (id int);
    SELECT pg_sleep(CASE WHEN current_setting('watoto.test_sleep', true) = 'on'
                         THEN 60 ELSE 0 END);
    """


def test_kill_9_mid_migration_leaves_no_lock_and_no_trace(db: Target, tmp_path: Path) -> None:
    write(tmp_path, "1001_sleepy", SLEEPY.format(head=HEAD))
    env = {**os.environ, "PGOPTIONS": "-c watoto.test_sleep=on"}
    victim = subprocess.Popen([SCRIPT, "--dsn", db.conninfo, "--migrations", str(tmp_path),
                               "migrate"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        _wait_for(db, "SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE "
                      "'%%CREATE TABLE sleepy%%' AND state = 'active' "
                      "AND pid <> pg_backend_pid()")
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()

    started = time.monotonic()
    result = migrate.migrate(db, extra_dirs=[tmp_path],
                             options=RunOptions(lock_wait=30))  # no manual unlock
    assert result.done == ["1001_sleepy"]
    assert time.monotonic() - started < 30
    assert q(db, "SELECT count(*) FROM _yoyo_log WHERE migration_id = '1001_sleepy'") == [(1,)]


def test_lock_holder_is_named_and_status_does_not_wait(db: Target, connect_to: Any,
                                                      tmp_path: Path) -> None:
    from watoto_schema.errors import LockNotAcquired
    from watoto_schema.migrate import LOCK_CLASS, LOCK_MIGRATE

    write(tmp_path, "1001_more", f"-- depends: {HEAD}\nCREATE TABLE more (id int);\n")
    holder = connect_to(application_name="nightly-deploy")
    holder.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, LOCK_MIGRATE))
    with pytest.raises(LockNotAcquired, match="nightly-deploy"):
        migrate.migrate(db, extra_dirs=[tmp_path], options=RunOptions(lock_wait=0.2))
    assert migrate.status(db).applied == SHIPPED  # read-only commands do not queue
    assert migrate.verify(db).clean
    assert migrate.migrate(db).done == []  # nothing pending: no need to queue either


# -- lock_timeout and retries ----------------------------------------------------------------

ALTER_USERS = f"""\
    -- depends: {HEAD}
    ALTER TABLE courses ADD COLUMN syllabus_url text;
    """


def test_waiting_migration_never_blocks_the_application_beyond_lock_timeout(
        db: Target, tmp_path: Path, connect_to: Any) -> None:
    write(tmp_path, "1001_syllabus", ALTER_USERS, "ALTER TABLE courses DROP COLUMN syllabus_url;\n")
    reporter = connect_to(application_name="report-job")
    reporter.execute("BEGIN")
    reporter.execute("SELECT count(*) FROM courses")  # holds ACCESS SHARE until it ends
    outcome: dict[str, Any] = {}

    def run_migration() -> None:
        try:
            outcome["result"] = migrate.migrate(
                db, extra_dirs=[tmp_path],
                options=RunOptions(lock_timeout="300ms", retries=50, backoff=0.2))
        except Exception as exc:  # surfaced by the assertions below
            outcome["error"] = exc

    runner = threading.Thread(target=run_migration)
    runner.start()
    _wait_for(db, "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                  "AND query LIKE 'ALTER TABLE courses%%'")
    app = connect_to(application_name="lms-web")
    answered = 0
    for _ in range(10):  # the application keeps reading while the migration retries
        row = app.execute("SELECT count(*) FROM courses").fetchone()
        answered += row is not None
    assert answered == 10 and runner.is_alive()  # answered while the blocker is still open
    reporter.execute("COMMIT")
    runner.join(60)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"].done == ["1001_syllabus"] and outcome["result"].retries >= 1
    assert q(db, "SELECT count(*) FROM information_schema.columns "
                 "WHERE table_name = 'courses' AND column_name = 'syllabus_url'") == [(1,)]


def test_retries_exhausted_exit_3_naming_the_blocker(db: Target, tmp_path: Path,
                                                     connect_to: Any) -> None:
    write(tmp_path, "1001_syllabus", ALTER_USERS)
    blocker = connect_to(application_name="stuck-report")
    blocker.execute("BEGIN")
    blocker.execute("SELECT count(*) FROM courses")
    with pytest.raises(MigrationBlocked) as info:
        migrate.migrate(db, extra_dirs=[tmp_path],
                        options=RunOptions(lock_timeout="200ms", retries=2, backoff=0.05))
    message = str(info.value)
    assert info.value.exit_code == 3
    assert f"pid {blocker.info.backend_pid}" in message and "stuck-report" in message
    assert "transaction open" in message
    assert "1001_syllabus" in migrate.status(db, extra_dirs=[tmp_path]).pending


def test_file_header_sets_lock_timeout(db: Target, tmp_path: Path) -> None:
    write(tmp_path, "1001_show", f"""\
        -- depends: {HEAD}
        -- lock_timeout: 750ms
        -- statement_timeout: 2min
        CREATE TABLE seen_settings AS
            SELECT current_setting('lock_timeout') AS lt,
                   current_setting('statement_timeout') AS st;
        """)
    migrate.migrate(db, extra_dirs=[tmp_path])
    assert q(db, "SELECT lt, st FROM seen_settings") == [("750ms", "2min")]


def test_statement_timeout_stops_a_runaway_migration(db: Target, tmp_path: Path) -> None:
    write(tmp_path, "1001_slow", f"-- depends: {HEAD}\nSELECT pg_sleep(5);\n")
    with pytest.raises(MigrationFailed, match="statement timeout"):
        migrate.migrate(db, extra_dirs=[tmp_path], options=RunOptions(statement_timeout="300ms"))


# -- non-transactional migrations ------------------------------------------------------------

def test_concurrent_index_on_a_partitioned_table_is_built_per_partition(
        db: Target, tmp_path: Path) -> None:
    write(tmp_path, "1001_enrollment_notes_idx", f"""\
        -- depends: {HEAD}
        -- transactional: false
        CREATE INDEX CONCURRENTLY idx_enrollments_notes ON enrollments (notes);
        """, "DROP INDEX IF EXISTS idx_enrollments_notes;\n")
    dirs = [tmp_path]
    plan = migrate.migrate(db, extra_dirs=dirs, dry_run=True).sql or ""
    assert "ON ONLY enrollments" in plan
    assert "CREATE INDEX CONCURRENTLY enrollments_2024_idx_enrollments_notes" in plan
    assert "ATTACH PARTITION public.enrollments_default_idx_enrollments_notes;" in plan

    migrate.migrate(db, extra_dirs=dirs)

    rows = q(db, """SELECT c.relname, x.indisvalid FROM pg_inherits i
                    JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_index x ON x.indexrelid = c.oid
                    WHERE i.inhparent = 'idx_enrollments_notes'::regclass ORDER BY 1""")
    leaves = [r[0] for r in q(db, "SELECT relname FROM pg_class WHERE relispartition "
                                  "AND relname LIKE 'enrollments\\_%%' AND relkind = 'r' "
                                  "ORDER BY 1")]
    assert "enrollments_2024" in leaves and "enrollments_default" in leaves
    assert [r[0] for r in rows] == [f"{leaf}_idx_enrollments_notes" for leaf in leaves]
    assert all(valid for _, valid in rows)
    assert q(db, "SELECT indisvalid FROM pg_index "
                 "WHERE indexrelid = 'idx_enrollments_notes'::regclass") == [(True,)]
    migrate.rollback(db, steps=1, extra_dirs=dirs)
    assert q(db, "SELECT to_regclass('idx_enrollments_notes')") == [(None,)]


def test_failed_unique_concurrent_build_is_partial_then_rebuilt(db: Target, tmp_path: Path,
                                                               db_conn: Any) -> None:
    db_conn.execute("INSERT INTO users (email, password_hash, role, first_name) VALUES "
                    "('a@x.org', 'h', 'student', 'Twin'), ('b@x.org', 'h', 'student', 'Twin')")
    db_conn.execute("""INSERT INTO courses (title, instructor_id, grade, category)
                       SELECT 'Same title', min(id), 7, 'Maths' FROM users
                       UNION ALL SELECT 'Same title', max(id), 7, 'Maths' FROM users""")
    write(tmp_path, "1001_unique_titles", f"""\
        -- depends: {HEAD}
        -- transactional: false
        CREATE INDEX CONCURRENTLY idx_courses_created ON courses (created_at);
        CREATE UNIQUE INDEX CONCURRENTLY idx_courses_title ON courses (title);
        """, "DROP INDEX CONCURRENTLY IF EXISTS idx_courses_title;\n"
             "DROP INDEX CONCURRENTLY IF EXISTS idx_courses_created;\n")
    dirs = [tmp_path]
    with pytest.raises(MigrationFailed, match="could not create unique index"):
        migrate.migrate(db, extra_dirs=dirs)

    report = migrate.status(db, extra_dirs=dirs)
    assert report.partial == ["1001_unique_titles"]
    assert "1 of 2 statements" in (report.versions[-1].detail or "")
    assert [(i.index, i.build_in_progress) for i in report.invalid_indexes] == [
        ("idx_courses_title", False)]
    assert "1001_unique_titles" not in [r[0] for r in q(db, "SELECT version FROM "
                                                            "schema_migrations")]
    cli = run("--dsn", db.conninfo, "--migrations", str(tmp_path), "status")
    assert "partial" in cli.stdout and "idx_courses_title" in cli.stdout

    db_conn.execute("UPDATE courses SET title = title || ' ' || id")
    script = migrate.migrate(db, extra_dirs=dirs, dry_run=True).sql or ""
    assert "resuming after statement 1" in script
    assert "DROP INDEX CONCURRENTLY IF EXISTS public.idx_courses_title;" in script
    assert migrate.migrate(db, extra_dirs=dirs).done == ["1001_unique_titles"]

    assert q(db, "SELECT indisvalid FROM pg_index WHERE indexrelid = "
                 "'idx_courses_title'::regclass") == [(True,)]
    assert migrate.status(db, extra_dirs=dirs).invalid_indexes == []
    assert migrate.verify(db, extra_dirs=dirs).clean


def test_kill_9_during_a_concurrent_build_is_resumed(db: Target, tmp_path: Path,
                                                     db_conn: Any) -> None:
    db_conn.execute("""CREATE FUNCTION slow_key(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS
                       $$ BEGIN PERFORM pg_sleep(0.02); RETURN $1; END $$""")
    db_conn.execute("INSERT INTO users (email, password_hash, role) "
                    "SELECT 'u' || g || '@x.org', 'h', 'student' FROM generate_series(1, 400) g")
    write(tmp_path, "1001_slow_idx", f"""\
        -- depends: {HEAD}
        -- transactional: false
        CREATE INDEX CONCURRENTLY idx_users_0_slow ON users_0 (slow_key(id));
        """, "DROP INDEX CONCURRENTLY IF EXISTS idx_users_0_slow;\n")
    victim = subprocess.Popen([SCRIPT, "--dsn", db.conninfo, "--migrations", str(tmp_path),
                               "migrate"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(db, "SELECT count(*) > 0 FROM pg_stat_progress_create_index "
                      "WHERE datname = current_database()")  # not another worker's build
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    _wait_for(db, "SELECT count(*) = 0 FROM pg_stat_progress_create_index "
                  "WHERE datname = current_database()")  # server noticed

    report = migrate.status(db, extra_dirs=[tmp_path])
    assert report.partial == ["1001_slow_idx"]
    assert [i.index for i in report.invalid_indexes] == ["idx_users_0_slow"]

    assert migrate.migrate(db, extra_dirs=[tmp_path]).done == ["1001_slow_idx"]
    assert q(db, "SELECT indisvalid FROM pg_index WHERE indexrelid = "
                 "'idx_users_0_slow'::regclass") == [(True,)]
    assert migrate.status(db, extra_dirs=[tmp_path]).partial == []


# -- dry run, baseline, new ------------------------------------------------------------------

def test_dry_run_prints_the_script_and_changes_nothing(empty_db: Target) -> None:
    before = q(empty_db, "SELECT count(*) FROM pg_class")
    result = run("--dsn", empty_db.conninfo, "migrate", "--dry-run", "--lock-timeout", "2s")
    assert result.exit_code == 0, result.output
    script = result.stdout
    assert script.count("BEGIN;") == script.count("COMMIT;") == len(SHIPPED)
    assert "SET LOCAL lock_timeout = '2s';" in script
    assert "CREATE TABLE schema_migrations" in script
    assert "INSERT INTO schema_migrations (version) VALUES ('0007_views');" in script
    assert q(empty_db, "SELECT count(*) FROM pg_class") == before
    assert q(empty_db, "SELECT to_regclass('_yoyo_migration')") == [(None,)]


def test_rollback_dry_run(db: Target) -> None:
    before = q(db, "SELECT count(*) FROM pg_class")
    script = migrate.rollback(db, steps=6, dry_run=True).sql or ""
    assert (script.index("DROP TABLE course_search_terms;")
            < script.index("DROP INDEX CONCURRENTLY IF EXISTS idx_courses_listing_covering;")
            < script.index("DROP INDEX CONCURRENTLY IF EXISTS idx_courses_listing;")
            < script.index("DROP INDEX CONCURRENTLY IF EXISTS idx_courses_search_vector;")
            < script.index("DROP VIEW course_stats;") < script.index("DROP TABLE assessment_"))
    assert "DELETE FROM schema_migrations WHERE version = '0006_assessments';" in script
    assert q(db, "SELECT count(*) FROM pg_class") == before
    assert migrate.status(db).applied == SHIPPED


def _build_by_hand(target: Target, skip: str | None = None) -> None:
    """What a DBA did before this tool existed: run the corrected SQL directly."""
    from watoto_schema import sources

    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        for f in sources.read(sources.migration_dirs()):
            for statement in f.statements:
                if skip and skip in statement:
                    continue
                conn.execute(statement)


def test_baseline_adopts_a_hand_built_database(empty_db: Target) -> None:
    _build_by_hand(empty_db)
    result = run("--dsn", empty_db.conninfo, "--json", "baseline")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["versions"] == SHIPPED
    assert migrate.status(empty_db).applied == SHIPPED
    assert migrate.verify(empty_db).clean
    ledger = q(empty_db, "SELECT version FROM schema_migrations ORDER BY 1")
    assert [r[0] for r in ledger] == SHIPPED
    assert migrate.migrate(empty_db).done == []
    with pytest.raises(Refused, match="already has applied migrations"):
        migrate.baseline(empty_db)


def test_baseline_refuses_when_objects_are_missing(empty_db: Target) -> None:
    _build_by_hand(empty_db, skip="idx_courses_fts")
    before = snapshot_of(empty_db)
    result = run("--dsn", empty_db.conninfo, "baseline")
    line = result.stderr.strip()
    assert result.exit_code == 3 and "index idx_courses_fts" in line
    assert snapshot_of(empty_db) == before
    assert q(empty_db, "SELECT to_regclass('_yoyo_migration')") == [(None,)]


def snapshot_of(target: Target) -> list[Any]:
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        return snapshot(conn)


def test_new_scaffolds_the_next_version(tmp_path: Path) -> None:
    first = run("--migrations", str(tmp_path), "new", "add_school_codes")
    assert first.exit_code == 0, first.output
    created = sorted(p.name for p in tmp_path.iterdir())
    first_version, second_version = int(HEAD[:4]) + 1, int(HEAD[:4]) + 2
    codes = f"{first_version:04d}_add_school_codes"
    assert created == [f"{codes}.rollback.sql", f"{codes}.sql"]
    assert (tmp_path / f"{codes}.sql").read_text().startswith(f"-- depends: {HEAD}\n")
    second = run("--migrations", str(tmp_path), "new", "--non-transactional", "index_codes")
    assert second.exit_code == 0, second.output
    text = (tmp_path / f"{second_version:04d}_index_codes.sql").read_text()
    assert text.startswith(f"-- depends: {codes}\n-- transactional: false\n")
    bad = run("--migrations", str(tmp_path), "new", "Bad Name")
    assert bad.exit_code == 1 and "lower-case" in bad.stderr


def test_python_migrations_are_refused_not_skipped(db: Target, tmp_path: Path) -> None:
    (tmp_path / "1001_code.py").write_text(
        f"from yoyo import step\n__depends__ = {{'{HEAD}'}}\n"
        "step(lambda conn: conn.cursor().execute('CREATE TABLE from_python (id int)'))\n")
    result = run("--dsn", db.conninfo, "--migrations", str(tmp_path), "migrate")
    assert result.exit_code == 1 and "only SQL migration steps" in result.stderr
    assert q(db, "SELECT to_regclass('from_python')") == [(None,)]
    assert "1001_code" not in [r[0] for r in q(db, "SELECT version FROM schema_migrations")]
