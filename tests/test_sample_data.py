"""watoto_schema.sample_data: loads, consistency of the generated data, determinism, refusals."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from watoto_schema import sample_data
from watoto_schema.errors import BadConfig, ConnectionFailed
from watoto_schema.sample_data import SEQUENCES, TABLES, SampleDataResult, load
from watoto_schema.sample_data.server import companion
from watoto_schema.target import Target

Conn = psycopg.Connection[Any]
STUDENTS = 300

# Every table's full content, in id order, as one md5 per table.
CHECKSUM_SQL = """
SELECT 'users', md5(string_agg(t::text, '|' ORDER BY id)) FROM users t
UNION ALL SELECT 'user_email_keys', md5(string_agg(t::text, '|' ORDER BY user_id))
          FROM user_email_keys t
UNION ALL SELECT 'courses', md5(string_agg(t::text, '|' ORDER BY id)) FROM courses t
UNION ALL SELECT 'course_modules', md5(string_agg(t::text, '|' ORDER BY id)) FROM course_modules t
UNION ALL SELECT 'assessments', md5(string_agg(t::text, '|' ORDER BY id)) FROM assessments t
UNION ALL SELECT 'enrollments', md5(string_agg(t::text, '|' ORDER BY id)) FROM enrollments t
UNION ALL SELECT 'enrollment_keys', md5(string_agg(t::text, '|' ORDER BY id))
          FROM enrollment_keys t
UNION ALL SELECT 'module_progress', md5(string_agg(t::text, '|' ORDER BY id))
          FROM module_progress t
UNION ALL SELECT 'assessment_submissions', md5(string_agg(t::text, '|' ORDER BY id))
          FROM assessment_submissions t
"""


def checksums(conn: Conn) -> dict[str, str]:
    return {str(name): str(digest) for name, digest in conn.execute(CHECKSUM_SQL).fetchall()}


def count(conn: Conn, table: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    assert row is not None
    return int(row[0])


def scalar(conn: Conn, query: str) -> Any:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture
def loaded(db_conn: Conn) -> Iterator[SampleDataResult]:
    yield load(db_conn, STUDENTS)


# -- loading -------------------------------------------------------------------------------
def test_loads_every_table_with_consistent_counts(db: Target, db_conn: Conn) -> None:
    calls: list[tuple[str, int]] = []
    result = load(db_conn, STUDENTS, progress=lambda table, rows: calls.append((table, rows)))

    assert result.students == STUDENTS
    assert result.seconds > 0
    assert list(result.rows) == list(TABLES)
    assert calls == list(result.rows.items())
    assert all(rows > 0 for rows in result.rows.values()), result.rows

    # Committed: another session sees exactly what load() reported.
    with psycopg.connect(db.conninfo, autocommit=True) as other:
        for table, rows in result.rows.items():
            assert count(other, table) == rows, table
        # The key tables were filled (set-based, from what COPY loaded).
        assert count(other, "user_email_keys") == result.rows["users"]
        assert count(other, "enrollment_keys") == result.rows["enrollments"]

    roles = dict(db_conn.execute("SELECT role, count(*) FROM users GROUP BY role").fetchall())
    assert roles["student"] == STUDENTS
    assert roles["teacher"] >= 3
    assert roles["admin"] >= 2
    assert scalar(db_conn, "SELECT count(*) FROM users WHERE role = 'student' "
                           "AND grade NOT BETWEEN 7 AND 9") == 0
    assert scalar(db_conn, "SELECT count(*) FROM users WHERE role <> 'student' "
                           "AND grade IS NOT NULL") == 0
    # Courses for every grade, each taught by a teacher, 6-12 modules numbered 1..n.
    assert {g for (g,) in db_conn.execute("SELECT DISTINCT grade FROM courses")} == {7, 8, 9}
    assert scalar(db_conn, "SELECT count(DISTINCT category) FROM courses") >= 10
    assert scalar(db_conn, "SELECT count(*) FROM courses c JOIN users u ON u.id = c.instructor_id "
                           "WHERE u.role <> 'teacher'") == 0
    assert scalar(db_conn, "SELECT count(*) FROM courses WHERE description IS NULL") > 0
    bad_modules = scalar(db_conn, """
        SELECT count(*) FROM (
            SELECT course_id FROM course_modules GROUP BY course_id
            HAVING count(*) NOT BETWEEN 6 AND 12 OR min(sequence_order) <> 1
                OR max(sequence_order) <> count(*)
                OR count(DISTINCT sequence_order) <> count(*)) x""")
    assert bad_modules == 0
    assert scalar(db_conn, "SELECT count(*) FROM courses c WHERE NOT EXISTS "
                           "(SELECT 1 FROM course_modules m WHERE m.course_id = c.id)") == 0


def test_emails_are_unique_case_insensitively(loaded: SampleDataResult, db_conn: Conn) -> None:
    assert scalar(db_conn, "SELECT count(DISTINCT lower(email)) FROM users") == loaded.rows["users"]
    assert scalar(db_conn, "SELECT count(*) FROM users u JOIN user_email_keys k "
                           "ON k.user_id = u.id AND k.email_key = lower(u.email)") == (
        loaded.rows["users"])


def test_sequences_follow_the_loaded_ids(loaded: SampleDataResult, db_conn: Conn) -> None:
    for table, sequence in SEQUENCES.items():
        max_id = scalar(db_conn, sql.SQL("SELECT max(id) FROM {}").format(
            sql.Identifier(table)).as_string(db_conn))
        last, called = db_conn.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(
            sql.Identifier(sequence))).fetchone() or (None, None)
        assert (last, called) == (max_id, True), table
    # An application insert right after the load gets a fresh id.
    with db_conn.transaction(force_rollback=True):
        new_id = scalar(db_conn, "INSERT INTO users (email, password_hash, role) "
                                 "VALUES ('new.user@x.org', 'h', 'admin') RETURNING id")
        assert new_id == loaded.rows["users"] + 1


def test_each_student_enrolls_once_per_course_of_their_grade(
        loaded: SampleDataResult, db_conn: Conn) -> None:
    assert scalar(db_conn, "SELECT count(*) FROM (SELECT 1 FROM enrollments "
                           "GROUP BY student_id, course_id HAVING count(*) > 1) d") == 0
    assert scalar(db_conn, """
        SELECT count(*) FROM enrollments e
        JOIN users u ON u.id = e.student_id JOIN courses c ON c.id = e.course_id
        WHERE u.role <> 'student' OR u.grade <> c.grade""") == 0
    per_student = scalar(db_conn, "SELECT avg(n) FROM (SELECT count(*) n FROM enrollments "
                                  "GROUP BY student_id) x")
    assert 2 <= per_student <= 6


def test_enrollments_route_to_the_yearly_partitions(
        loaded: SampleDataResult, db_conn: Conn) -> None:
    assert count(db_conn, "enrollments_default") == 0
    yearly = sum(count(db_conn, f"enrollments_{year}") for year in (2024, 2025, 2026, 2027))
    assert yearly == loaded.rows["enrollments"]
    for year in (2024, 2025, 2026):
        assert count(db_conn, f"enrollments_{year}") > 0, year
    assert scalar(db_conn, "SELECT count(*) FROM enrollments WHERE enrolled_at < '2024-01-01' "
                           "OR enrolled_at >= '2026-11-01'") == 0


def test_enrollment_statuses_match_progress(loaded: SampleDataResult, db_conn: Conn) -> None:
    rows = db_conn.execute("""
        WITH n AS (SELECT course_id, count(*) AS n FROM course_modules GROUP BY course_id),
        mp AS (
            SELECT enrollment_id,
                   count(*) FILTER (WHERE status = 'completed') AS done,
                   count(*) FILTER (WHERE status = 'in_progress') AS open,
                   max(module_id) FILTER (WHERE status = 'in_progress') AS open_module
            FROM module_progress GROUP BY enrollment_id)
        SELECT e.status, count(*),
            count(*) FILTER (WHERE e.progress_percentage
                                   <> round(coalesce(mp.done, 0) * 100.0 / n.n, 2)),
            count(*) FILTER (WHERE (e.status = 'in_progress')
                                   <> (e.current_module_id IS NOT NULL)),
            count(*) FILTER (WHERE e.status = 'in_progress'
                             AND (mp.open IS DISTINCT FROM 1
                                  OR mp.open_module <> e.current_module_id)),
            count(*) FILTER (WHERE (e.status = 'completed') <> (e.completed_at IS NOT NULL)),
            count(*) FILTER (WHERE e.completed_at < e.enrolled_at),
            count(*) FILTER (WHERE e.status = 'completed'
                             AND (e.progress_percentage <> 100 OR mp.done <> n.n
                                  OR e.grade NOT IN ('A', 'B', 'C', 'D', 'F'))),
            count(*) FILTER (WHERE e.status <> 'completed' AND e.progress_percentage >= 100),
            count(*) FILTER (WHERE e.status = 'enrolled' AND mp.enrollment_id IS NOT NULL)
        FROM enrollments e JOIN n USING (course_id)
        LEFT JOIN mp ON mp.enrollment_id = e.id
        GROUP BY e.status""").fetchall()
    statuses = {row[0] for row in rows}
    assert statuses == {"enrolled", "in_progress", "completed", "dropped"}
    for status, total, *problems in rows:
        assert total > 0
        assert problems == [0] * len(problems), (status, problems)


def test_module_progress_is_consistent(loaded: SampleDataResult, db_conn: Conn) -> None:
    problems = db_conn.execute("""
        SELECT count(*) FILTER (WHERE m.course_id <> e.course_id),
               count(*) FILTER (WHERE p.started_at < e.enrolled_at),
               count(*) FILTER (WHERE p.completed_at < p.started_at),
               count(*) FILTER (WHERE (p.status = 'completed') <> (p.completed_at IS NOT NULL)),
               count(*) FILTER (WHERE p.status NOT IN ('completed', 'in_progress')),
               count(*) FILTER (WHERE p.completed_at > e.completed_at),
               count(*) FILTER (WHERE greatest(p.started_at, p.completed_at) > '2026-11-01')
        FROM module_progress p
        JOIN enrollments e ON e.id = p.enrollment_id
        JOIN course_modules m ON m.id = p.module_id""").fetchone()
    assert problems == (0, 0, 0, 0, 0, 0, 0)
    # Progress is contiguous: the modules a student started are the first ones in order.
    assert scalar(db_conn, """
        SELECT count(*) FROM (
            SELECT p.enrollment_id FROM module_progress p
            JOIN course_modules m ON m.id = p.module_id
            GROUP BY p.enrollment_id HAVING max(m.sequence_order) <> count(*)) x""") == 0


def test_submissions_are_consistent(loaded: SampleDataResult, db_conn: Conn) -> None:
    statuses = dict(db_conn.execute(
        "SELECT status, count(*) FROM assessment_submissions GROUP BY status").fetchall())
    assert statuses.get("graded", 0) > 0
    problems = db_conn.execute("""
        SELECT count(*) FILTER (WHERE s.status = 'submitted'
                                AND (s.score IS NOT NULL OR s.graded_by IS NOT NULL
                                     OR s.graded_at IS NOT NULL)),
               count(*) FILTER (WHERE s.status IN ('graded', 'returned')
                                AND (s.score IS NULL OR s.graded_by IS NULL
                                     OR s.graded_at IS NULL)),
               count(*) FILTER (WHERE s.graded_by <> c.instructor_id),
               count(*) FILTER (WHERE s.graded_at < s.submitted_at),
               count(*) FILTER (WHERE s.score NOT BETWEEN 0 AND a.total_points),
               count(*) FILTER (WHERE NOT EXISTS (
                   SELECT 1 FROM enrollment_keys k
                   WHERE k.student_id = s.student_id AND k.course_id = a.course_id)),
               count(*) FILTER (WHERE a.module_id IS NOT NULL AND NOT EXISTS (
                   SELECT 1 FROM module_progress p JOIN enrollment_keys k
                     ON k.id = p.enrollment_id
                   WHERE k.student_id = s.student_id AND p.module_id = a.module_id
                     AND p.status = 'completed'))
        FROM assessment_submissions s
        JOIN assessments a ON a.id = s.assessment_id
        JOIN courses c ON c.id = a.course_id""").fetchone()
    assert problems == (0, 0, 0, 0, 0, 0, 0)
    assert scalar(db_conn, "SELECT count(*) FROM assessments a JOIN course_modules m "
                           "ON m.id = a.module_id WHERE m.course_id <> a.course_id") == 0


def test_tables_are_analyzed(loaded: SampleDataResult, db_conn: Conn) -> None:
    analyzed = {name for (name,) in db_conn.execute(
        "SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = current_schema()")}
    # Partitioned parents included: autovacuum never analyzes those.
    for table in (*TABLES, "user_email_keys", "enrollment_keys"):
        assert table in analyzed, table


def test_unpartitioned_tables_are_loaded_frozen(
        loaded: SampleDataResult, db_conn: Conn) -> None:
    # COPY ... FREEZE, including the rows the second session made: every page all-visible
    # (ANALYZE after the load counted the visibility map), nothing for VACUUM to freeze.
    pages = db_conn.execute(
        "SELECT relname, relpages, relallvisible FROM pg_class "
        "WHERE oid = ANY (%s::regclass[]) AND relkind = 'r'", (list(TABLES),)).fetchall()
    assert {"module_progress", "assessment_submissions"} <= {name for name, _, _ in pages}
    for name, relpages, visible in pages:
        assert relpages > 0 and visible == relpages, (name, relpages, visible)


# -- determinism -----------------------------------------------------------------------------
EMPTY_EVERY_TABLE = ("TRUNCATE users, user_email_keys, courses, course_search_terms, "
                     "course_modules, enrollments, enrollment_keys, module_progress, "
                     "assessments, assessment_submissions RESTART IDENTITY")


def test_same_seed_gives_identical_data(loaded: SampleDataResult, db_conn: Conn) -> None:
    first = checksums(db_conn)
    with db_conn.transaction(force_rollback=True):
        db_conn.execute(EMPTY_EVERY_TABLE)
        again = load(db_conn, STUDENTS)
        assert again.rows == loaded.rows
        assert checksums(db_conn) == first
        db_conn.execute(EMPTY_EVERY_TABLE)
        load(db_conn, STUDENTS, seed=8)
        other_seed = checksums(db_conn)
    assert all(other_seed[table] != digest for table, digest in first.items())
    assert checksums(db_conn) == first  # the rolled-back experiments left the data alone


def test_generator_is_deterministic_without_a_database() -> None:
    def everything(seed: int) -> list[Any]:
        # Its rows, and the plan the server makes module progress and submissions from.
        generator = sample_data._Generator(50, seed)
        rows: list[Any] = [row for table in TABLES[:5] for row in generator.rows(table)]
        for plan in (generator.module_plan, generator.assessment_plan, generator.progress_plan):
            rows.extend(plan())
        return rows

    assert everything(7) == everything(7)
    assert everything(7) != everything(11)


# -- refusals --------------------------------------------------------------------------------
@pytest.mark.parametrize("students", [0, -5])
def test_fewer_than_one_student_is_refused(db_conn: Conn, students: int) -> None:
    with pytest.raises(BadConfig, match="at least 1"):
        load(db_conn, students)
    assert count(db_conn, "users") == 0


def test_refuses_a_database_that_already_has_data(
        loaded: SampleDataResult, db_conn: Conn) -> None:
    before = checksums(db_conn)
    with pytest.raises(BadConfig, match="already has data"):
        load(db_conn, STUDENTS)
    assert checksums(db_conn) == before


def test_refuses_even_a_single_existing_user(db_conn: Conn) -> None:
    db_conn.execute("INSERT INTO users (email, password_hash, role) "
                    "VALUES ('only@x.org', 'h', 'admin')")
    with pytest.raises(BadConfig, match="already has data"):
        load(db_conn, 10)
    assert count(db_conn, "users") == 1
    assert count(db_conn, "courses") == 0


def test_refuses_a_database_without_the_schema(db_conn: Conn) -> None:
    with db_conn.transaction(force_rollback=True):
        db_conn.execute("CREATE SCHEMA nothing_here")
        db_conn.execute("SET LOCAL search_path = nothing_here")
        with pytest.raises(BadConfig, match="run the migrations"):
            load(db_conn, 10)


def test_a_failure_leaves_nothing_behind(
        db_conn: Conn, monkeypatch: pytest.MonkeyPatch) -> None:
    # In the plan the second session makes the last two tables from: after five tables'
    # COPY, with that session open.
    original = sample_data._Generator.progress_plan

    def failing(self: sample_data._Generator) -> Iterator[tuple[Any, ...]]:
        for number, row in enumerate(original(self)):
            if number == 10:
                raise RuntimeError("boom")
            yield row

    monkeypatch.setattr(sample_data._Generator, "progress_plan", failing)
    with pytest.raises(RuntimeError, match="boom"):
        load(db_conn, 50)
    for table in (*TABLES, "user_email_keys", "enrollment_keys"):
        assert count(db_conn, table) == 0, table
    # Sequences untouched: they are only moved once every table has loaded.
    assert scalar(db_conn, "SELECT is_called FROM users_id_seq") is False
    assert db_conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    # The second session is closed: no other backend is left in this database.
    assert scalar(db_conn, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                           "current_database() AND pid <> pg_backend_pid()") == 0
    # And the database can still be loaded afterwards.
    monkeypatch.undo()
    assert load(db_conn, 50).rows["users"] > 50


def test_a_refused_second_connection_is_one_clear_line(db: Target, db_conn: Conn) -> None:
    # A role allowed one connection: the load's own. The second session's is refused, and
    # the error says what for, on one line, without the password the first one used.
    role, password = f"sd_one_{os.getpid()}", "pw-not-to-be-shown-7"
    db_conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} CONNECTION LIMIT 1").format(
        sql.Identifier(role), sql.Literal(password)))
    try:
        params = {**conninfo_to_dict(db.conninfo), "user": role, "password": password}
        with (psycopg.connect(make_conninfo(**params)) as conn,
              pytest.raises(ConnectionFailed) as refused):
            companion(conn)
        message = str(refused.value)
        assert "second connection" in message and "too many connections" in message
        assert "\n" not in message and password not in message
    finally:
        db_conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


# -- the bulk load (#13) -----------------------------------------------------------------------
def test_the_bulk_load_leaves_the_schema_as_migrated(db_conn: Conn) -> None:
    from watoto_schema.catalog import snapshot

    before = snapshot(db_conn)
    result = load(db_conn, 50)
    assert snapshot(db_conn) == before  # every key, index and trigger back, same names
    assert set(result.steps) >= {"copy", "checks"}
    triggers = db_conn.execute(
        "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'O'").fetchone()
    assert triggers == (0,)
    # The triggers work again for the application's own inserts.
    db_conn.execute("INSERT INTO users (email, password_hash, role) "
                    "VALUES ('New.Student@school.watoto.example', 'x', 'student')")
    assert scalar(db_conn, "SELECT count(*) FROM user_email_keys "
                           "WHERE email_key = 'new.student@school.watoto.example'") == 1


def test_the_database_is_marked(loaded: SampleDataResult, db_conn: Conn) -> None:
    mark = sample_data.read_mark(db_conn)
    assert loaded.marked and mark is not None
    assert (mark["kind"], mark["students"], mark["seed"]) == (sample_data.MARK_KIND, STUDENTS, 7)


def test_a_broken_guarantee_rolls_everything_back(
        db_conn: Conn, monkeypatch: pytest.MonkeyPatch) -> None:
    from watoto_schema.catalog import snapshot

    before = snapshot(db_conn)
    # Key rows that do not match their users: the check after the load must catch it.
    monkeypatch.setattr(sample_data, "_FILL_KEYS", (
        "INSERT INTO user_email_keys (email_key, user_id) SELECT 'x' || email, id FROM users",
        *sample_data._FILL_KEYS[1:]))
    with pytest.raises(sample_data.GuaranteeBroken, match="users without their email key"):
        load(db_conn, 30)
    assert snapshot(db_conn) == before
    assert count(db_conn, "users") == 0
    assert sample_data.read_mark(db_conn) is None


def test_a_duplicate_email_is_refused_by_the_re_added_key(
        db_conn: Conn, monkeypatch: pytest.MonkeyPatch) -> None:
    original = sample_data._Generator.users

    def twins(self: sample_data._Generator) -> Iterator[tuple[Any, ...]]:
        for row in original(self):
            yield (row[0], "Twin@School.watoto.example" if row[0] in (7, 9) else row[1],
                   *row[2:])

    monkeypatch.setattr(sample_data._Generator, "users", twins)
    with pytest.raises(psycopg.errors.UniqueViolation, match="users_email_key"):
        load(db_conn, 30)
    assert count(db_conn, "users") == 0
