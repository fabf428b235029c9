"""Maintenance (#6): each condition built for real, found by `plan`, fixed by `run`, gone after.

Autovacuum is switched off on the tables of each test (a reloption), so that what a test
builds stays there until the tool fixes it. Statistics are flushed explicitly
(``pg_stat_force_next_flush()``) instead of waited for.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import fields
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg.conninfo import make_conninfo

from watoto_schema import maintenance as m
from watoto_schema.cli import cli
from watoto_schema.cli.maintain import THRESHOLD_DEFAULTS
from watoto_schema.errors import BadConfig, Refused
from watoto_schema.sample_data import load
from watoto_schema.target import Target

from .conftest import Server
from .test_cli import assert_one_line_error

# Low minimums, so that a few hundred rows are enough to matter.
LOW = m.Thresholds(dead_min=50, analyze_min=50)


def run_cli(*args: str) -> Result:
    env = {name: None for name in ("WATOTO_DATABASE_URL", "PGHOST", "PGDATABASE", "PGSERVICE",
                                   "PGUSER", "PGPORT", "PGHOSTADDR", "PGPASSWORD")}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def q(target: Target, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        return conn.execute(query, params or None).fetchall()


def no_autovacuum(conn: psycopg.Connection[Any]) -> None:
    """Keep autovacuum away from every table, so that built conditions stay until fixed."""
    for (name,) in conn.execute("SELECT oid::regclass::text FROM pg_class WHERE relkind = 'r' "
                                "AND relnamespace = 'public'::regnamespace").fetchall():
        conn.execute(f"ALTER TABLE {name} SET (autovacuum_enabled = false)")


def flush(conn: psycopg.Connection[Any]) -> None:
    """Publish this session's pending statistics now (they are otherwise flushed ~1 s later)."""
    conn.execute("SELECT pg_stat_force_next_flush()")


def loaded(conn: psycopg.Connection[Any], students: int = 300) -> None:
    load(conn, students)
    no_autovacuum(conn)
    flush(conn)


def settle(db: Target, thresholds: m.Thresholds = LOW) -> None:
    """Run whatever the freshly loaded database needs, so a test starts from a clean plan."""
    assert m.run(db, m.plan(db, thresholds)).ok
    assert m.plan(db, thresholds).clean


def task_for(plan: m.MaintenancePlan, relation: str) -> m.Task:
    matches = [t for t in plan.tasks if t.relation == relation]
    assert len(matches) == 1, [t.title for t in plan.tasks]
    return matches[0]


def kinds(task: m.Task) -> set[str]:
    return {f.kind for f in task.findings}


def wait_until(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# -- each condition: found, fixed, gone ------------------------------------------------------

def test_dead_tuples_from_update_and_delete_are_vacuumed(db: Target, db_conn: Any) -> None:
    loaded(db_conn)
    settle(db)
    db_conn.execute("UPDATE module_progress SET time_spent_minutes = time_spent_minutes + 1")
    db_conn.execute("DELETE FROM assessment_submissions WHERE id % 2 = 0")
    flush(db_conn)

    plan = m.plan(db, LOW)
    for table in ("module_progress", "assessment_submissions"):
        task = task_for(plan, table)
        assert task.action == "vacuum" and "dead_tuples" in kinds(task)
        assert task.statements == [f'VACUUM (ANALYZE) "public"."{table}"']
        assert task.lock == f"SHARE UPDATE EXCLUSIVE on public.{table}"
        assert any("dead tuples" in reason for reason in task.reasons)

    summary = m.run(db, plan)
    assert summary.ok and {op.status for op in summary.operations} == {"done"}
    assert q(db, "SELECT relname, n_dead_tup FROM pg_stat_user_tables WHERE relname IN "
                 "('module_progress', 'assessment_submissions') ORDER BY 1") == [
        ("assessment_submissions", 0), ("module_progress", 0)]
    assert m.plan(db, LOW).clean


def test_stale_statistics_are_analyzed(db: Target, db_conn: Any) -> None:
    loaded(db_conn)
    settle(db)
    db_conn.execute("INSERT INTO course_modules (course_id, title, module_type, sequence_order) "
                    "SELECT course_id, title || ' (part 2)', module_type, sequence_order + 100 "
                    "FROM course_modules")  # inserts only: no dead tuples, only new rows
    flush(db_conn)

    task = task_for(m.plan(db, LOW), "course_modules")
    assert task.action == "analyze" and kinds(task) == {"stale_statistics"}
    assert "rows changed since the last analyze" in task.reasons[0]
    before = q(db, "SELECT analyze_count FROM pg_stat_user_tables "
                   "WHERE relname = 'course_modules'")[0][0]

    assert m.run(db, [task]).ok
    assert q(db, "SELECT analyze_count FROM pg_stat_user_tables "
                 "WHERE relname = 'course_modules'") == [(before + 1,)]
    assert m.plan(db, LOW).clean


def _enroll_by_hand(conn: psycopg.Connection[Any]) -> None:
    """Rows in users and enrollments, by plain INSERTs: nothing analyzes anything."""
    conn.execute("INSERT INTO users (email, password_hash, role) "
                 "VALUES ('teacher@x.org', 'h', 'teacher')")
    conn.execute("INSERT INTO users (email, password_hash, role, grade) "
                 "SELECT 's' || g || '@x.org', 'h', 'student', 7 FROM generate_series(1, 200) g")
    conn.execute("INSERT INTO courses (title, instructor_id, grade, category) "
                 "SELECT 'Course ' || g, (SELECT id FROM users WHERE role = 'teacher'), 7, "
                 "'Maths' FROM generate_series(1, 3) g")
    conn.execute("INSERT INTO enrollments (student_id, course_id, enrolled_at) "
                 "SELECT u.id, c.id, timestamp '2024-02-01' + u.id * interval '4 days' "
                 "FROM users u CROSS JOIN courses c WHERE u.role = 'student'")


def test_never_analyzed_partitioned_parent_is_analyzed(db: Target, db_conn: Any) -> None:
    no_autovacuum(db_conn)
    _enroll_by_hand(db_conn)
    flush(db_conn)
    assert q(db, "SELECT last_analyze FROM pg_stat_user_tables "
                 "WHERE relname = 'enrollments'") == [(None,)]

    plan = m.plan(db, LOW)
    task = task_for(plan, "enrollments")
    assert task.action == "analyze" and task.partitioned
    assert "partitioned_never_analyzed" in kinds(task)
    assert "autovacuum never analyzes" in task.reasons[0]
    assert "and, in turn, on each of its partitions" in task.lock
    # Its partitions are analyzed by the parent's ANALYZE: no task of their own.
    assert not [t for t in plan.tasks if t.relation.startswith("enrollments_")]
    assert "users" in [t.relation for t in plan.tasks if t.partitioned]
    assert plan.tasks[-1].partitioned  # parents last, after their partitions' vacuums

    assert m.run(db, plan).ok
    rows = q(db, "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
                 "WHERE relname LIKE 'enrollments%' ORDER BY 1")
    assert rows and all(analyzed for _, analyzed in rows), rows
    assert m.plan(db, LOW).clean


def _duplicate_titles_and_failed_unique_build(conn: psycopg.Connection[Any]) -> None:
    conn.execute("UPDATE courses SET title = 'Same title' "
                 "WHERE id IN (SELECT id FROM courses ORDER BY id LIMIT 2)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY idx_courses_title ON courses (title)")


def _valid(target: Target, index: str) -> bool | None:
    rows = q(target, "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
             (index,))
    return rows[0][0] if rows else None


def test_invalid_index_from_a_failed_unique_build_is_rebuilt(db: Target, db_conn: Any) -> None:
    loaded(db_conn)
    settle(db, m.Thresholds())
    _duplicate_titles_and_failed_unique_build(db_conn)
    assert _valid(db, "idx_courses_title") is False

    task = task_for(m.plan(db), "idx_courses_title")
    assert task.action == "rebuild_index" and kinds(task) == {"invalid_index"}
    assert task.statements == [
        'DROP INDEX CONCURRENTLY IF EXISTS "public"."idx_courses_title"',
        "CREATE UNIQUE INDEX CONCURRENTLY idx_courses_title ON public.courses "
        "USING btree (title)"]

    # The duplicates are still there: the rebuild fails again, and says why.
    failed = m.run(db, [task])
    assert [op.status for op in failed.operations] == ["failed"]
    assert "could not create unique index" in (failed.operations[0].error or "")
    with pytest.raises(m.MaintenanceFailed) as info:
        failed.raise_for_failures()
    assert info.value.exit_code == 1
    assert _valid(db, "idx_courses_title") is False

    db_conn.execute("UPDATE courses SET title = title || ' ' || id")
    fixed = m.run(db, m.plan(db))
    assert fixed.ok
    assert _valid(db, "idx_courses_title") is True
    assert m.plan(db).clean


SLOW_KEY = """
    CREATE FUNCTION slow_key(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_sleep(CASE WHEN current_setting('watoto.slow', true) = 'on'
                              THEN 0.1 ELSE 0 END);
        RETURN $1;
    END $$
"""


def test_ccnew_leftover_of_a_failed_reindex_is_dropped(db: Target, db_conn: Any) -> None:
    loaded(db_conn)
    settle(db, m.Thresholds())
    db_conn.execute(SLOW_KEY)
    db_conn.execute("CREATE INDEX idx_courses_slow ON courses (slow_key(id))")  # fast: not slow
    db_conn.execute("SET watoto.slow = 'on'")
    db_conn.execute("SET statement_timeout = '300ms'")
    with pytest.raises(psycopg.errors.QueryCanceled):
        db_conn.execute("REINDEX INDEX CONCURRENTLY idx_courses_slow")
    db_conn.execute("RESET statement_timeout")
    db_conn.execute("RESET watoto.slow")
    assert _valid(db, "idx_courses_slow_ccnew") is False

    plan = m.plan(db)
    task = task_for(plan, "idx_courses_slow_ccnew")
    assert task.action == "drop_index" and kinds(task) == {"leftover_index"}
    assert "_ccnew copy left by a failed REINDEX CONCURRENTLY" in task.reasons[0]
    assert task.statements == [
        'DROP INDEX CONCURRENTLY IF EXISTS "public"."idx_courses_slow_ccnew"']
    assert not [t for t in plan.tasks if t.relation == "idx_courses_slow"]  # the original

    assert m.run(db, plan).ok
    assert _valid(db, "idx_courses_slow_ccnew") is None
    assert _valid(db, "idx_courses_slow") is True
    assert m.plan(db).clean


def test_an_index_build_in_progress_is_not_treated_as_broken(db: Target, db_conn: Any,
                                                             connect_to: Any) -> None:
    loaded(db_conn)
    settle(db, m.Thresholds())
    db_conn.execute(SLOW_KEY)
    builder = connect_to(application_name="slow-build")
    builder.execute("SET watoto.slow = 'on'")
    outcome: dict[str, Any] = {}

    def build() -> None:
        try:
            builder.execute("CREATE INDEX CONCURRENTLY idx_courses_slow ON courses "
                            "(slow_key(id))")
        except psycopg.Error as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=build)
    thread.start()
    try:
        wait_until(lambda: q(db, "SELECT count(*) FROM pg_stat_progress_create_index")[0][0],
                   "the index build to start")
        plan = m.plan(db)
        assert plan.clean, [t.title for t in plan.tasks]
        assert [(f.relation, f.kind) for f in plan.in_progress] == [
            ("idx_courses_slow", "build_in_progress")]
    finally:
        db_conn.execute("SELECT pg_cancel_backend(%s)", (builder.info.backend_pid,))
        thread.join(60)
    assert isinstance(outcome.get("error"), psycopg.errors.QueryCanceled)

    # Cancelled, it is a broken index now: the next plan rebuilds it.
    task = task_for(m.plan(db), "idx_courses_slow")
    assert task.action == "rebuild_index"
    assert m.run(db, [task]).ok
    assert _valid(db, "idx_courses_slow") is True


def test_tables_near_wraparound_are_frozen(db: Target, db_conn: Any) -> None:
    no_autovacuum(db_conn)
    for _ in range(2000):  # every table's relfrozenxid is now at least 2,000 XIDs old
        db_conn.execute("SELECT txid_current()")
    limit = q(db, "SELECT current_setting('autovacuum_freeze_max_age')::int")[0][0]
    thresholds = m.Thresholds(wraparound_ratio=1000 / limit)  # "near" = 1,000 XIDs here

    plan = m.plan(db, thresholds)
    task = task_for(plan, "module_progress")
    assert task.action == "vacuum_freeze" and kinds(task) == {"wraparound"}
    assert "transaction ID age" in task.reasons[0]
    assert "autovacuum_freeze_max_age" in task.reasons[0]
    assert task.statements == ['VACUUM (FREEZE, ANALYZE) "public"."module_progress"']
    # Ages are compared table by table, not against a fixed number: a test running beside
    # this one (xdist) consumes XIDs of the same cluster meanwhile.
    frozen = [t.relation for t in plan.tasks if t.action == "vacuum_freeze"]
    ages = "SELECT relname, age(relfrozenxid) FROM pg_class WHERE relname = ANY(%s)"
    before = dict(q(db, ages, (frozen,)))

    assert m.run(db, plan, m.RunOptions(jobs=2)).ok
    after = dict(q(db, ages, (frozen,)))
    assert before["module_progress"] >= 1000
    assert all(after[name] < before[name] for name in frozen), (before, after)


def test_bloated_index_is_reindexed_and_exact_mode_confirms(db: Target, db_conn: Any) -> None:
    db_conn.execute("CREATE TABLE bloat_demo (id int PRIMARY KEY, note text) "
                    "WITH (autovacuum_enabled = false)")
    db_conn.execute("INSERT INTO bloat_demo SELECT g, repeat('x', 20) "
                    "FROM generate_series(1, 100000) g")
    db_conn.execute("DELETE FROM bloat_demo WHERE id % 10 <> 0")  # a tenth left on every page
    flush(db_conn)  # counted before VACUUM ANALYZE resets the counters, not after
    db_conn.execute("VACUUM ANALYZE bloat_demo")
    no_autovacuum(db_conn)
    thresholds = m.Thresholds(bloat_min_bytes=512 * 1024)

    plan = m.plan(db, thresholds)
    task = task_for(plan, "bloat_demo_pkey")
    assert task.action == "reindex" and kinds(task) == {"index_bloat"}
    assert task.statements == ['REINDEX INDEX CONCURRENTLY "public"."bloat_demo_pkey"']
    assert task.findings[0].metrics["source"] == "estimate"
    assert task.findings[0].metrics["bloat_ratio"] > 0.6
    # The heap is as sparse, but VACUUM has made that space reusable: advice, not a task.
    advice = [f for f in plan.advice if f.relation == "bloat_demo"]
    assert advice and advice[0].kind == "table_bloat" and "pg_repack" in advice[0].reason

    unavailable = m.plan(db, thresholds, exact=True)
    assert any("exact bloat unavailable" in note for note in unavailable.notes)
    assert q(db, "SELECT count(*) FROM pg_extension WHERE extname = 'pgstattuple'") == [(0,)]

    exact = m.plan(db, thresholds, exact=True, create_extension=True)
    confirmed = task_for(exact, "bloat_demo_pkey")
    assert confirmed.findings[0].metrics["source"] == "pgstattuple"
    assert "measured by pgstattuple" in confirmed.reasons[0]

    summary = m.run(db, exact)
    assert summary.ok
    op = next(op for op in summary.operations if op.task.relation == "bloat_demo_pkey")
    assert op.size_before is not None and op.size_after is not None
    assert op.size_after < op.size_before / 3
    assert m.plan(db, thresholds, exact=True).clean


# -- safety --------------------------------------------------------------------------------

def _observable_state(db: Target) -> list[Any]:
    return [q(db, "SELECT relname, last_vacuum, last_autovacuum, last_analyze, "
                  "last_autoanalyze, vacuum_count, analyze_count, n_dead_tup "
                  "FROM pg_stat_user_tables ORDER BY relname"),
            q(db, "SELECT c.relname, c.relfilenode, x.indisvalid FROM pg_index x "
                  "JOIN pg_class c ON c.oid = x.indexrelid ORDER BY 1")]


def test_dry_run_prints_statements_and_locks_and_changes_nothing(db: Target,
                                                                 db_conn: Any) -> None:
    loaded(db_conn)
    settle(db)
    db_conn.execute("DELETE FROM assessment_submissions WHERE id % 2 = 0")
    _duplicate_titles_and_failed_unique_build(db_conn)
    flush(db_conn)
    before = _observable_state(db)
    plan = m.plan(db, LOW)
    # the retitled courses rewrote their rows of course_search_terms (migration 0011's
    # trigger): enough changed rows there, on this small sample, for an ANALYZE
    assert {(t.action, t.relation) for t in plan.tasks if t.action == "analyze"} == {
        ("analyze", "course_search_terms")}
    assert {t.action for t in plan.tasks} == {"vacuum", "rebuild_index", "analyze"}

    summary = m.run(db, plan, m.RunOptions(dry_run=True))
    script = summary.script or ""
    assert summary.dry_run and [op.status for op in summary.operations] == ["planned"] * 3
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "public"."idx_courses_title";' in script
    assert "CREATE UNIQUE INDEX CONCURRENTLY idx_courses_title ON public.courses" in script
    assert 'VACUUM (ANALYZE) "public"."assessment_submissions";' in script
    assert "lock: SHARE UPDATE EXCLUSIVE on public.assessment_submissions" in script
    assert "lock_timeout = '3s'" in script

    dsn = ["--dsn", db.conninfo, "maintain"]
    cli = run_cli(*dsn, "run", "--dry-run", "--dead-min", "50", "--analyze-min", "50")
    assert cli.exit_code == 0, cli.output
    # the command's default latency guard (2x) is one more line of the script
    guarded = m.run(db, plan, m.RunOptions(dry_run=True, pause_above_factor=2)).script
    assert cli.stdout == guarded and guarded != script
    assert "waits while a probe's latency is above 2x" in cli.stdout
    full = run_cli(*dsn, "vacuum", "--full", "--table", "courses", "--dry-run")
    assert full.exit_code == 0, full.output
    assert 'VACUUM (FULL, ANALYZE) "public"."courses";' in full.stdout
    assert "lock: ACCESS EXCLUSIVE on public.courses" in full.stdout
    for form in (["analyze"], ["reindex", "--table", "enrollments"], ["vacuum"]):
        assert run_cli(*dsn, *form, "--dry-run").exit_code == 0
    assert _observable_state(db) == before


def test_vacuum_full_is_refused_without_full_and_yes(db: Target, db_conn: Any) -> None:
    loaded(db_conn, 50)
    filenode = q(db, "SELECT relfilenode FROM pg_class WHERE relname = 'courses'")
    result = run_cli("--dsn", db.conninfo, "maintain", "vacuum", "--full", "--table", "courses")
    line = assert_one_line_error(result, code=3)
    assert "ACCESS EXCLUSIVE" in line and "--full --yes" in line
    with pytest.raises(Refused):
        m.run(db, m.vacuum_tasks(db, ["courses"], full=True))
    assert q(db, "SELECT relfilenode FROM pg_class WHERE relname = 'courses'") == filenode

    ok = run_cli("--dsn", db.conninfo, "maintain", "vacuum", "--full", "--yes",
                 "--table", "courses")
    assert ok.exit_code == 0, ok.output
    assert "warning: VACUUM FULL holds an ACCESS EXCLUSIVE lock" in ok.stderr
    assert q(db, "SELECT relfilenode FROM pg_class WHERE relname = 'courses'") != filenode
    # `plan` and `run` never produce it.
    assert "vacuum_full" not in {t.action for t in m.plan(db, m.Thresholds(
        dead_min=0, dead_ratio=0, analyze_min=0, analyze_ratio=0)).tasks}


def test_two_runs_never_overlap(db: Target, connect_to: Any) -> None:
    holder = connect_to(application_name="nightly-maintenance")
    holder.execute("SELECT pg_advisory_lock(%s, %s)", (m.LOCK_CLASS, m.LOCK_MAINTAIN))
    line = assert_one_line_error(run_cli("--dsn", db.conninfo, "maintain", "run"), code=3)
    assert "nightly-maintenance" in line and f"pid {holder.info.backend_pid}" in line
    assert "maintenance lock" in line
    with pytest.raises(m.MaintenanceLockHeld):
        m.run(db, m.analyze_tasks(db, ["courses"]))

    events: list[m.ProgressEvent] = []
    outcome: dict[str, Any] = {}

    def waiting_run() -> None:
        outcome["summary"] = m.run(db, m.analyze_tasks(db, ["courses"]),
                                   m.RunOptions(lock_wait=None), on_progress=events.append)

    thread = threading.Thread(target=waiting_run)
    thread.start()
    wait_until(lambda: any(e.event == "waiting" for e in events), "the run to wait")
    assert "nightly-maintenance" in (events[0].message or "")
    assert not any(e.event == "start" for e in events)  # nothing ran while it waited
    holder.execute("SELECT pg_advisory_unlock(%s, %s)", (m.LOCK_CLASS, m.LOCK_MAINTAIN))
    thread.join(60)
    assert outcome["summary"].ok
    assert [e.event for e in events if e.index == 0][:2] == ["start", "done"]


def test_the_migration_lock_does_not_stop_maintenance(db: Target, connect_to: Any) -> None:
    from watoto_schema.migrate import LOCK_CLASS, LOCK_MIGRATE

    assert (LOCK_CLASS, LOCK_MIGRATE) == (m.LOCK_CLASS, m.LOCK_MIGRATE) != (
        m.LOCK_CLASS, m.LOCK_MAINTAIN)
    holder = connect_to(application_name="deploy")
    holder.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, LOCK_MIGRATE))
    assert m.run(db, m.analyze_tasks(db, ["courses"])).ok


def test_lock_not_granted_is_retried_then_reported(db: Target, connect_to: Any) -> None:
    blocker = connect_to(application_name="long-report")
    blocker.execute("BEGIN")
    blocker.execute("LOCK TABLE courses IN SHARE UPDATE EXCLUSIVE MODE")
    options = m.RunOptions(lock_timeout="100ms", retries=2, backoff=0.05)
    events: list[m.ProgressEvent] = []
    blocked = m.run(db, m.analyze_tasks(db, ["courses"]), options, on_progress=events.append)
    assert [(op.status, op.attempts) for op in blocked.operations] == [("blocked", 3)]
    assert "lock timeout" in (blocked.operations[0].error or "")
    assert [e.event for e in events].count("retry") == 2
    with pytest.raises(m.MaintenanceBlocked) as info:
        blocked.raise_for_failures()
    assert info.value.exit_code == 3

    def release_on_first_retry(event: m.ProgressEvent) -> None:
        if event.event == "retry" and blocker.info.transaction_status:
            blocker.execute("COMMIT")

    retried = m.run(db, m.analyze_tasks(db, ["courses"]), options,
                    on_progress=release_on_first_retry)
    assert [(op.status, op.attempts) for op in retried.operations] == [("done", 2)]


def test_a_table_the_role_may_not_vacuum_is_reported_skipped(db: Target,
                                                              pg_server: Server) -> None:
    with pg_server.admin() as admin:
        admin.execute("CREATE ROLE watoto_not_owner LOGIN")
    try:
        other = Target(make_conninfo(db.conninfo, user="watoto_not_owner"), "tests")
        summary = m.run(other, m.vacuum_tasks(other, ["courses"]))
        assert [op.status for op in summary.operations] == ["skipped"]
        assert "skipping" in (summary.operations[0].error or "")
        assert summary.ok  # nothing failed: the role is simply not allowed to
    finally:
        with pg_server.admin() as admin:
            admin.execute("DROP ROLE watoto_not_owner")


def test_parallel_jobs_are_capped_and_never_share_a_table(db: Target, db_conn: Any) -> None:
    loaded(db_conn, 100)
    tasks = m.reindex_tasks(db, tables=["enrollments", "courses"])
    events: list[m.ProgressEvent] = []
    summary = m.run(db, tasks, m.RunOptions(jobs=50), on_progress=events.append)
    assert summary.ok and summary.jobs == m.MAX_JOBS
    assert any("--jobs 50 reduced to 8" in note for note in summary.notes)
    running: dict[str, int] = {}
    for event in events:
        if event.task is None or event.event not in ("start", "done"):
            continue
        table = event.task.table
        running[table] = running.get(table, 0) + (1 if event.event == "start" else -1)
        assert running[table] <= 1, f"two operations at once on {table}"
    assert all(_valid(db, t.relation) for t in tasks)


# -- direct forms and the CLI ----------------------------------------------------------------

def test_direct_forms(db: Target, db_conn: Any) -> None:
    loaded(db_conn, 100)
    dsn = ["--dsn", db.conninfo, "maintain"]

    count = "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = %s"
    before = q(db, count, ("courses",))[0][0]
    assert run_cli(*dsn, "analyze", "--table", "courses").exit_code == 0
    assert q(db, count, ("courses",)) == [(before + 1,)]

    vacuums = "SELECT relname, vacuum_count FROM pg_stat_user_tables " \
              "WHERE relname LIKE 'enrollments_%' ORDER BY 1"
    before_vacuums = q(db, vacuums)
    assert run_cli(*dsn, "vacuum", "--table", "enrollments").exit_code == 0
    assert q(db, vacuums) == [(name, n + 1) for name, n in before_vacuums]

    partitioned = m.reindex_tasks(db, indexes=["idx_enrollments_course"])
    leaves = q(db, "SELECT relid::regclass::text FROM pg_partition_tree("
                   "'idx_enrollments_course') WHERE isleaf ORDER BY 1")
    assert len(leaves) >= 5
    assert [t.relation for t in partitioned] == [name for (name,) in leaves]
    oids = q(db, "SELECT indexrelid FROM pg_index WHERE indexrelid::regclass::text "
                 "LIKE 'enrollments_%_course_id_idx' ORDER BY 1")
    result = run_cli("--dsn", db.conninfo, "--json", "maintain", "reindex",
                     "--index", "idx_enrollments_course", "--jobs", "2")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [op["status"] for op in doc["operations"]] == ["done"] * len(leaves)
    assert q(db, "SELECT indexrelid FROM pg_index WHERE indexrelid::regclass::text "
                 "LIKE 'enrollments_%_course_id_idx' ORDER BY 1") != oids
    assert all(_valid(db, t.relation) for t in partitioned)

    line = assert_one_line_error(run_cli(*dsn, "analyze", "--table", "no_such_table"))
    assert "no table named 'no_such_table'" in line
    line = assert_one_line_error(run_cli(*dsn, "vacuum", "--table", "idx_courses_grade"))
    assert "use --index" in line


def test_plan_and_run_json_documents(db: Target, db_conn: Any) -> None:
    loaded(db_conn)
    db_conn.execute("DELETE FROM assessment_submissions WHERE id % 2 = 0")
    flush(db_conn)
    dsn = ["--dsn", db.conninfo, "--json", "maintain"]
    low = ["--dead-min", "50", "--analyze-min", "50"]

    planned = run_cli(*dsn, "plan", *low)
    assert planned.exit_code == 2, planned.output
    doc = json.loads(planned.stdout)
    assert set(doc) == {"target", "clean", "exact", "thresholds", "tasks", "advice",
                        "in_progress", "notes"}
    assert doc["clean"] is False and doc["thresholds"]["dead_min"] == 50
    vacuum = next(t for t in doc["tasks"] if t["relation"] == "assessment_submissions")
    assert set(vacuum) == {"action", "title", "schema", "relation", "table", "statements",
                           "lock", "lock_effect", "size_bytes", "reasons", "findings"}
    assert vacuum["action"] == "vacuum"
    assert vacuum["findings"][0]["kind"] == "dead_tuples"
    assert vacuum["findings"][0]["metrics"]["n_dead_tup"] > 0

    ran = run_cli(*dsn, "run", *low, "--jobs", "2")
    assert ran.exit_code == 0, ran.output
    doc = json.loads(ran.stdout)
    assert doc["ok"] is True and doc["dry_run"] is False and doc["jobs"] == 2
    op = next(o for o in doc["operations"] if o["relation"] == "assessment_submissions")
    assert op["status"] == "done" and op["attempts"] == 1
    assert isinstance(op["size_before"], int) and isinstance(op["size_after"], int)

    # A snapshot held a moment by a session beside this test (xdist runs another test on the
    # same cluster) can keep VACUUM from removing the dead rows; a later run does.
    for _ in range(20):
        clean = run_cli(*dsn, "plan", *low)
        if clean.exit_code == 0:
            break
        time.sleep(0.5)
        assert run_cli(*dsn, "run", *low).exit_code == 0
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.stdout)["clean"] is True


def test_human_output(db: Target, db_conn: Any) -> None:
    loaded(db_conn)
    db_conn.execute("DELETE FROM assessment_submissions WHERE id % 2 = 0")
    flush(db_conn)
    dsn = ["--dsn", db.conninfo, "maintain"]
    planned = run_cli(*dsn, "plan", "--dead-min", "50")
    assert planned.exit_code == 2
    assert "VACUUM (ANALYZE) public.assessment_submissions" in planned.stdout
    assert "dead tuples" in planned.stdout and "work to do" in planned.stdout
    ran = run_cli(*dsn, "run", "--dead-min", "50")
    assert ran.exit_code == 0, ran.output
    assert "size before" in ran.stdout and "done" in ran.stdout
    assert "started VACUUM (ANALYZE) public.assessment_submissions" in ran.stderr  # the log
    assert "Nothing to do" in run_cli(*dsn, "plan", "--dead-min", "50").stdout


def test_cli_threshold_defaults_match_the_library() -> None:
    library = {f.name: f.default for f in fields(m.Thresholds)}
    library["bloat_min_mb"] = library.pop("bloat_min_bytes") / 1024 / 1024
    assert library == THRESHOLD_DEFAULTS




# -- pacing (#21): cost-based delay on the vacuum sessions, the latency guard ---------------

def test_cost_delay_is_set_on_the_vacuum_session(db: Target, db_conn: Any) -> None:
    """--cost-delay is the setting of the very session that runs the VACUUM: the task's
    next statement, on that session, records what it sees."""
    loaded(db_conn)
    db_conn.execute("CREATE TABLE pace_seen (cost_delay text, parallel text)")
    [vacuum] = m.vacuum_tasks(db, ["courses"])
    vacuum.statements.append("INSERT INTO pace_seen SELECT current_setting('vacuum_cost_delay'),"
                             " current_setting('max_parallel_maintenance_workers')")
    summary = m.run(db, [vacuum], m.RunOptions(cost_delay="7ms"))
    assert summary.ok, summary.operations
    assert q(db, "SELECT * FROM pace_seen") == [("7ms", "0")]
    script = run_cli("--dsn", db.conninfo, "maintain", "vacuum", "--table", "courses",
                     "--cost-delay", "7ms", "--pause-above", "3", "--dry-run")
    assert script.exit_code == 0, script.output
    assert "SET vacuum_cost_delay = '7ms'" in script.stdout
    assert "latency is above 3 ms" in script.stdout


def test_latency_guard_pauses_while_above_and_within_its_budget(db: Target,
                                                                db_conn: Any) -> None:
    """A threshold of 0 ms is always exceeded: the run pauses before each operation until
    the budget is spent, says so, and then runs everything."""
    loaded(db_conn)
    tasks = m.analyze_tasks(db, ["courses", "course_modules"])
    events: list[m.ProgressEvent] = []
    began = time.monotonic()
    summary = m.run(db, tasks, m.RunOptions(pause_above_ms=0, max_pause=0.6),
                    on_progress=events.append)
    took = time.monotonic() - began
    assert summary.ok and [op.status for op in summary.operations] == ["done", "done"]
    pacing = summary.pacing
    assert pacing is not None and pacing.threshold_ms == 0
    assert pacing.pauses == 1 and pacing.budget_spent  # one pause used the whole budget
    assert 0.6 <= pacing.paused_seconds < 1.2 and took < 5
    assert pacing.probes >= 3
    assert any("max-pause" in note for note in summary.notes)
    assert [e.event for e in events if e.event in ("paused", "resumed")] == ["paused",
                                                                             "resumed"]
    assert summary.as_dict()["pacing"]["budget_spent"] is True

    # Far above the probe: no pause; a factor measures the probe first (at least 1 ms).
    calm = m.run(db, tasks, m.RunOptions(pause_above_ms=5000))
    assert calm.pacing is not None and calm.pacing.pauses == 0
    relative = m.run(db, tasks, m.RunOptions(pause_above_factor=2))
    assert relative.pacing is not None and relative.pacing.baseline_ms is not None
    assert relative.pacing.threshold_ms >= 1.0
    assert m.run(db, tasks).pacing is None  # the library's default: no guard


def test_latency_guard_from_the_cli(db: Target, db_conn: Any) -> None:
    loaded(db_conn)
    dsn = ["--dsn", db.conninfo]
    ran = run_cli(*dsn, "--json", "maintain", "analyze", "--table", "courses",
                  "--pause-above", "0", "--max-pause", "0.3")
    assert ran.exit_code == 0, ran.output
    pacing = json.loads(ran.stdout)["pacing"]
    assert pacing["pauses"] == 1 and pacing["budget_spent"] is True
    assert 0.3 <= pacing["paused_seconds"] < 1.0
    human = run_cli(*dsn, "maintain", "analyze", "--table", "courses", "--pause-above", "0",
                    "--max-pause", "0.2")
    assert human.exit_code == 0, human.output
    assert "pausing: the probe's p90" in human.stderr
    assert "latency guard: paused 1 time(s)" in human.stdout
    off = run_cli(*dsn, "--json", "maintain", "analyze", "--table", "courses",
                  "--pause-above", "off")
    assert off.exit_code == 0 and "pacing" not in json.loads(off.stdout)


def test_bad_pacing_input_is_one_line_exit_1(db: Target) -> None:
    dsn = ["--dsn", db.conninfo, "maintain", "run"]
    for args, needle in ((["--pause-above", "-1"], "--pause-above"),
                         (["--pause-above", "0x"], "--pause-above"),
                         (["--pause-above", "soon"], "--pause-above"),
                         (["--max-pause", "-1"], "--max-pause"),
                         (["--cost-delay", "-2ms"], "--cost-delay")):
        line = assert_one_line_error(run_cli(*dsn, *args), 1)
        assert needle in line, line
    with pytest.raises(BadConfig, match="--max-pause"):
        m.run(db, [], m.RunOptions(max_pause=-1))
