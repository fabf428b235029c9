"""Every seed guarantee holds on the partitioned schema, including under concurrency.

Each test violates a guarantee and expects PostgreSQL's integrity error (SQLSTATE class
23), which is what applications catch.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from psycopg import errors

Conn = psycopg.Connection[Any]


def add_user(conn: Conn, email: str, role: str = "student", grade: int | None = 7) -> int:
    row = conn.execute(
        "INSERT INTO users (email, password_hash, first_name, last_name, role, grade) "
        "VALUES (%s, 'x', 'Amani', 'Otieno', %s, %s) RETURNING id",
        (email, role, grade),
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def school(db_conn: Conn) -> dict[str, int]:
    """A teacher, two students, a course with two modules."""
    teacher = add_user(db_conn, "mwalimu@school.example", "teacher", None)
    s1 = add_user(db_conn, "amani@school.example")
    s2 = add_user(db_conn, "zawadi@school.example")
    row = db_conn.execute(
        "INSERT INTO courses (title, description, instructor_id, grade, category) "
        "VALUES ('Mathematics 7', 'Fractions and decimals', %s, 7, 'Mathematics') RETURNING id",
        (teacher,),
    ).fetchone()
    assert row is not None
    course = int(row[0])
    modules = [
        int(r[0]) for r in db_conn.execute(
            "INSERT INTO course_modules (course_id, title, module_type, sequence_order) "
            "VALUES (%s, 'Fractions', 'video', 1), (%s, 'Decimals', 'quiz', 2) RETURNING id",
            (course, course),
        )
    ]
    return {"teacher": teacher, "s1": s1, "s2": s2, "course": course,
            "m1": modules[0], "m2": modules[1]}


def enroll(conn: Conn, student: int, course: int, at: str = "2025-03-01") -> int:
    row = conn.execute(
        "INSERT INTO enrollments (student_id, course_id, enrolled_at) VALUES (%s, %s, %s) "
        "RETURNING id",
        (student, course, at),
    ).fetchone()
    assert row is not None
    return int(row[0])


# -- email: unique, case-insensitively ---------------------------------------------------

def test_duplicate_email_is_a_unique_violation(db_conn: Conn) -> None:
    add_user(db_conn, "amani@school.example")
    with pytest.raises(errors.UniqueViolation) as info:
        add_user(db_conn, "amani@school.example")
    assert info.value.sqlstate == "23505"
    assert info.value.diag.constraint_name == "users_email_key"


def test_email_differing_only_in_case_is_the_same_account(db_conn: Conn) -> None:
    add_user(db_conn, "A@x.org")
    with pytest.raises(errors.UniqueViolation):
        add_user(db_conn, "a@x.org")


def test_email_change_into_a_taken_address_is_refused(db_conn: Conn) -> None:
    add_user(db_conn, "one@x.org")
    other = add_user(db_conn, "two@x.org")
    with pytest.raises(errors.UniqueViolation):
        db_conn.execute("UPDATE users SET email = 'ONE@x.org' WHERE id = %s", (other,))
    # the freed address becomes available again after a change and after a delete
    db_conn.execute("UPDATE users SET email = 'three@x.org' WHERE id = %s", (other,))
    add_user(db_conn, "Two@x.org")
    db_conn.execute("DELETE FROM users WHERE email = 'one@x.org'")
    add_user(db_conn, "ONE@X.ORG")


def _outcome_after_waiting(holder: Conn, waiter: Conn, statement: str, params: Any) -> str:
    """Run ``statement`` on ``waiter`` while ``holder``'s open transaction holds what it
    needs; check it waits, commit ``holder``, and return the waiter's SQLSTATE."""
    outcome: list[str] = []

    def wait() -> None:
        try:
            waiter.execute(statement, params)
            outcome.append("00000")
        except psycopg.Error as exc:
            outcome.append(exc.sqlstate or "?")

    thread = threading.Thread(target=wait)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive(), "the second session did not wait for the first transaction"
    holder.execute("COMMIT")
    thread.join(10)
    return outcome[0]


def _race(connect_to: Any, statement: str, params: tuple[Any, ...]) -> list[str]:
    """Run ``statement`` in two transactions that overlap; return each outcome's SQLSTATE."""
    first, second = connect_to(), connect_to()
    first.execute("BEGIN")
    first.execute(statement, params)  # holds the key, uncommitted
    return ["00000", _outcome_after_waiting(first, second, statement, params)]


def test_racing_inserts_of_one_email_cannot_both_commit(db: Any, connect_to: Any) -> None:
    statement = ("INSERT INTO users (email, password_hash, role) VALUES (%s, 'x', 'student')")
    outcomes = _race(connect_to, statement, ("Race@School.example",))
    assert outcomes == ["00000", "23505"]
    check = connect_to()
    assert check.execute("SELECT count(*) FROM users").fetchone() == (1,)


# -- one enrollment per (student, course), across partitions ------------------------------

def test_second_enrollment_in_another_year_partition_is_refused(
        db_conn: Conn, school: dict[str, int]) -> None:
    enroll(db_conn, school["s1"], school["course"], "2024-02-01")
    with pytest.raises(errors.UniqueViolation) as info:
        enroll(db_conn, school["s1"], school["course"], "2026-09-01")
    assert info.value.diag.constraint_name == "idx_enrollments_student_course"


def test_racing_enrollments_cannot_both_commit(db_conn: Conn, school: dict[str, int],
                                               connect_to: Any) -> None:
    statement = ("INSERT INTO enrollments (student_id, course_id, enrolled_at) "
                 "VALUES (%s, %s, %s)")
    first_year = _race(connect_to, statement, (school["s1"], school["course"], "2024-05-01"))
    assert first_year == ["00000", "23505"]
    assert db_conn.execute("SELECT count(*) FROM enrollments").fetchone() == (1,)


def test_enrollment_ids_are_unique_across_partitions(db_conn: Conn,
                                                     school: dict[str, int]) -> None:
    first = enroll(db_conn, school["s1"], school["course"], "2024-02-01")
    with pytest.raises(errors.UniqueViolation):
        db_conn.execute(
            "INSERT INTO enrollments (id, student_id, course_id, enrolled_at) "
            "VALUES (%s, %s, %s, '2025-02-01')", (first, school["s2"], school["course"]))


def test_changing_student_or_course_keeps_the_key_table_in_step(
        db_conn: Conn, school: dict[str, int]) -> None:
    e1 = enroll(db_conn, school["s1"], school["course"])
    enroll(db_conn, school["s2"], school["course"])
    with pytest.raises(errors.UniqueViolation):
        db_conn.execute("UPDATE enrollments SET student_id = %s WHERE id = %s",
                        (school["s2"], e1))
    db_conn.execute("DELETE FROM enrollments WHERE student_id = %s", (school["s2"],))
    db_conn.execute("UPDATE enrollments SET student_id = %s WHERE id = %s", (school["s2"], e1))
    with pytest.raises(errors.UniqueViolation):
        enroll(db_conn, school["s2"], school["course"], "2027-01-05")
    enroll(db_conn, school["s1"], school["course"], "2027-01-05")  # s1's pair is free again


# -- module_progress belongs to an existing enrollment and goes with it -------------------

def test_progress_for_a_missing_enrollment_is_a_foreign_key_violation(
        db_conn: Conn, school: dict[str, int]) -> None:
    with pytest.raises(errors.ForeignKeyViolation) as info:
        db_conn.execute("INSERT INTO module_progress (enrollment_id, module_id) VALUES (%s, %s)",
                        (424242, school["m1"]))
    assert info.value.sqlstate == "23503"


def test_deleting_an_enrollment_deletes_its_progress(db_conn: Conn,
                                                     school: dict[str, int]) -> None:
    e1 = enroll(db_conn, school["s1"], school["course"], "2024-06-01")
    e2 = enroll(db_conn, school["s2"], school["course"], "2025-06-01")
    for enrollment in (e1, e2):
        db_conn.execute(
            "INSERT INTO module_progress (enrollment_id, module_id, status) "
            "VALUES (%s, %s, 'completed'), (%s, %s, 'in_progress')",
            (enrollment, school["m1"], enrollment, school["m2"]))

    db_conn.execute("DELETE FROM enrollments WHERE id = %s", (e1,))

    rows = db_conn.execute("SELECT enrollment_id FROM module_progress").fetchall()
    assert rows == [(e2,), (e2,)]


def test_progress_survives_a_move_to_another_year_partition(db_conn: Conn,
                                                            school: dict[str, int]) -> None:
    e1 = enroll(db_conn, school["s1"], school["course"], "2024-06-01")
    db_conn.execute("INSERT INTO module_progress (enrollment_id, module_id) VALUES (%s, %s)",
                    (e1, school["m1"]))

    db_conn.execute("UPDATE enrollments SET enrolled_at = '2026-01-15' WHERE id = %s", (e1,))

    assert db_conn.execute(
        "SELECT tableoid::regclass::text FROM enrollments WHERE id = %s", (e1,)
    ).fetchone() == ("enrollments_2026",)
    assert db_conn.execute("SELECT count(*) FROM module_progress").fetchone() == (1,)
    with pytest.raises(errors.UniqueViolation):  # still one enrollment per course
        enroll(db_conn, school["s1"], school["course"], "2024-06-01")


def test_progress_for_a_concurrently_deleted_enrollment_cannot_commit(
        db_conn: Conn, school: dict[str, int], connect_to: Any) -> None:
    e1 = enroll(db_conn, school["s1"], school["course"])
    deleter, writer = connect_to(), connect_to()
    deleter.execute("BEGIN")
    deleter.execute("DELETE FROM enrollments WHERE id = %s", (e1,))
    outcome = [_outcome_after_waiting(
        deleter, writer, "INSERT INTO module_progress (enrollment_id, module_id) "
        "VALUES (%s, %s)", (e1, school["m1"]))]
    assert outcome == ["23503"]
    assert db_conn.execute("SELECT count(*) FROM module_progress").fetchone() == (0,)


# -- CHECK and NOT NULL constraints -------------------------------------------------------

CHECKS = [
    ("INSERT INTO users (email, password_hash, role) VALUES ('a@b.c', 'x', 'parent')",
     "users_role_check"),
    ("INSERT INTO users (email, password_hash, role, grade) VALUES ('a@b.c', 'x', 'student', 6)",
     "users_grade_check"),
    ("INSERT INTO courses (title, instructor_id, grade, category) "
     "VALUES ('t', {teacher}, 10, 'Mathematics')", "courses_grade_check"),
    ("INSERT INTO enrollments (student_id, course_id, status) "
     "VALUES ({s1}, {course}, 'paused')", "enrollments_status_check"),
    ("INSERT INTO module_progress (enrollment_id, module_id, status) "
     "VALUES ({enrollment}, {m1}, 'skipped')", "module_progress_status_check"),
    ("INSERT INTO assessment_submissions (assessment_id, student_id, status) "
     "VALUES ({assessment}, {s1}, 'lost')", "assessment_submissions_status_check"),
]


@pytest.mark.parametrize(("statement", "constraint"), CHECKS,
                         ids=[c for _, c in CHECKS])
def test_every_check_holds(db_conn: Conn, school: dict[str, int], statement: str,
                           constraint: str) -> None:
    values = dict(school)
    values["enrollment"] = enroll(db_conn, school["s2"], school["course"])
    row = db_conn.execute(
        "INSERT INTO assessments (course_id, title, assessment_type, total_points) "
        "VALUES (%s, 'Quiz 1', 'quiz', 10) RETURNING id", (school["course"],)).fetchone()
    assert row is not None
    values["assessment"] = row[0]
    with pytest.raises(errors.CheckViolation) as info:
        db_conn.execute(statement.format(**values))
    assert info.value.sqlstate == "23514"
    assert info.value.diag.constraint_name == constraint


def test_not_null_columns_hold(db_conn: Conn, school: dict[str, int]) -> None:
    with pytest.raises(errors.NotNullViolation):
        db_conn.execute("INSERT INTO users (email, role) VALUES ('n@x.org', 'student')")
    with pytest.raises(errors.NotNullViolation):
        db_conn.execute("INSERT INTO enrollments (student_id, course_id, enrolled_at) "
                        "VALUES (%s, %s, NULL)", (school["s1"], school["course"]))


def test_user_ids_cannot_be_renumbered(db_conn: Conn) -> None:
    user = add_user(db_conn, "fixed@x.org")
    with pytest.raises(errors.IntegrityConstraintViolation) as info:
        db_conn.execute("UPDATE users SET id = id + 1000 WHERE id = %s", (user,))
    assert (info.value.sqlstate or "").startswith("23")


# -- the rest of the seed's behaviour -------------------------------------------------------

def test_updated_at_follows_updates(db_conn: Conn, school: dict[str, int]) -> None:
    db_conn.execute("UPDATE users SET updated_at = '2020-01-01', created_at = '2020-01-01'")
    db_conn.execute("UPDATE courses SET updated_at = '2020-01-01'")
    db_conn.execute("UPDATE users SET last_name = 'Wanjiru' WHERE id = %s", (school["s1"],))
    db_conn.execute("UPDATE courses SET max_students = 40")
    stamped = db_conn.execute(
        "SELECT id, updated_at > now() - interval '1 minute' FROM users ORDER BY id").fetchall()
    assert dict(stamped) == {school["teacher"]: False, school["s1"]: True, school["s2"]: False}
    assert db_conn.execute("SELECT bool_and(updated_at > '2020-01-01') FROM courses"
                           ).fetchone() == (True,)


@pytest.mark.parametrize(("enrolled_at", "partition"), [
    ("2024-01-01 00:00", "enrollments_2024"),
    ("2024-12-31 23:59:59.999", "enrollments_2024"),
    ("2025-06-15", "enrollments_2025"),
    ("2027-12-31", "enrollments_2027"),
    ("2019-05-01", "enrollments_default"),
    ("2031-01-01", "enrollments_default"),
])
def test_enrollments_route_to_their_year_or_default(db_conn: Conn, school: dict[str, int],
                                                     enrolled_at: str, partition: str) -> None:
    enrollment = enroll(db_conn, school["s1"], school["course"], enrolled_at)
    assert db_conn.execute("SELECT tableoid::regclass::text FROM enrollments WHERE id = %s",
                           (enrollment,)).fetchone() == (partition,)


def test_users_spread_over_four_hash_partitions(db_conn: Conn) -> None:
    for n in range(40):
        add_user(db_conn, f"u{n}@x.org")
    counts = db_conn.execute(
        "SELECT tableoid::regclass::text, count(*) FROM users GROUP BY 1 ORDER BY 1").fetchall()
    assert [name for name, _ in counts] == ["users_0", "users_1", "users_2", "users_3"]
    assert sum(n for _, n in counts) == 40


def test_seed_application_inserts_run_unchanged(db_conn: Conn) -> None:
    """INSERTs naming only the seed's columns need nothing else from the application."""
    db_conn.execute(
        "INSERT INTO users (email, password_hash, first_name, last_name, role, grade, is_active) "
        "VALUES ('t@x.org', 'h', 'Baraka', 'Mwangi', 'teacher', NULL, true), "
        "('s@x.org', 'h', 'Neema', 'Achieng', 'student', 8, true)")
    db_conn.execute(
        "INSERT INTO courses (title, description, instructor_id, grade, category, methodology, "
        "duration, is_active, max_students) SELECT 'Science 8', NULL, id, 8, 'Science', "
        "'inquiry', '1 term', true, 30 FROM users WHERE role = 'teacher'")
    db_conn.execute(
        "INSERT INTO course_modules (course_id, title, description, module_type, content_url, "
        "content_text, duration_minutes, is_required, sequence_order) "
        "SELECT id, 'Cells', NULL, 'reading', NULL, 'Cells are...', 20, true, 1 FROM courses")
    db_conn.execute(
        "INSERT INTO enrollments (student_id, course_id, progress_percentage, current_module_id, "
        "status, grade, notes) SELECT u.id, c.id, 10.5, m.id, 'in_progress', NULL, NULL "
        "FROM users u, courses c, course_modules m WHERE u.role = 'student'")
    db_conn.execute(
        "INSERT INTO module_progress (enrollment_id, module_id, time_spent_minutes, score, "
        "attempts, status) SELECT e.id, e.current_module_id, 5, NULL, 1, 'in_progress' "
        "FROM enrollments e")
    db_conn.execute(
        "INSERT INTO assessments (course_id, module_id, title, description, assessment_type, "
        "total_points, passing_score, time_limit_minutes, is_graded) "
        "SELECT course_id, id, 'Quiz', NULL, 'quiz', 10, 5, 15, true FROM course_modules")
    db_conn.execute(
        "INSERT INTO assessment_submissions (assessment_id, student_id, content, file_url, score, "
        "feedback, graded_by, graded_at, status) SELECT a.id, u.id, '{}', NULL, 8, 'Good', t.id, "
        "now(), 'graded' FROM assessments a, users u, users t "
        "WHERE u.role = 'student' AND t.role = 'teacher'")
    counts = db_conn.execute(
        "SELECT (SELECT count(*) FROM enrollments), (SELECT count(*) FROM module_progress), "
        "(SELECT count(*) FROM assessment_submissions), (SELECT count(*) FROM user_email_keys), "
        "(SELECT count(*) FROM enrollment_keys)").fetchone()
    assert counts == (1, 1, 1, 2, 1)
