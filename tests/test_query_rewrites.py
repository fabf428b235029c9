"""#21's faster SQL returns what the SQL before it returned, on a small sample-data load, and
the enroll statement holds under concurrency.

Each rewritten statement is run beside the text it replaced (kept here) on the same rows:
the login lookup through the key table user_email_keys, the progress update's enrollment
found through enrollment_keys, the enroll that claims its key with ON CONFLICT.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from watoto_schema.loadtest.scripts import parameters, render
from watoto_schema.resources import sql_text
from watoto_schema.sample_data import load
from watoto_schema.target import Target

Conn = psycopg.Connection[Any]
STUDENTS = 150

# The statements as shipped before #21.
OLD_LOGIN = ("SELECT id, password_hash, role, grade, is_active FROM users "
             "WHERE email = %(email)s")
OLD_ENROLLMENT_UPDATE = """
UPDATE enrollments
   SET progress_percentage = least(100, progress_percentage + 10)
 WHERE id = %(enrollment_id)s AND status IN ('enrolled', 'in_progress')"""
OLD_ENROLL = """
INSERT INTO enrollments (student_id, course_id, status)
SELECT %(student_id)s, %(course_id)s, 'enrolled'
 WHERE EXISTS (SELECT 1 FROM users WHERE id = %(student_id)s AND role = 'student')
   AND NOT EXISTS (SELECT 1 FROM enrollment_keys
                    WHERE student_id = %(student_id)s AND course_id = %(course_id)s)"""


@pytest.fixture
def sample(db: Target) -> Iterator[Conn]:
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        load(conn, STUDENTS)
        yield conn


def test_the_rewritten_statements_return_what_the_old_ones_did(sample: Conn,
                                                               tmp_path: Path) -> None:
    """One sample-data load for every comparison (each test's load costs seconds)."""
    _, lists = parameters(sample)
    check_login(sample, lists, tmp_path)
    check_login_reads_one_partition(sample)
    check_progress_update(sample, lists, tmp_path)
    check_enroll(sample, lists, tmp_path)
    check_listing_index(sample)


def loadtest_statements(lists: dict[str, Any], name: str, tmp: Path) -> list[str]:
    """The shipped load-test script, rendered as `loadtest` does, as psycopg statements."""
    text = render(tmp, [name], lists)[name].read_text()
    body = "\n".join(line for line in text.splitlines() if not line.startswith(("\\", "--")))
    return [re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", part.strip())
            for part in body.split(";")
            if part.strip() and part.strip().upper() not in ("BEGIN", "END")]


def check_login(sample: Conn, lists: dict[str, Any], tmp_path: Path) -> None:
    emails = [r[0] for r in sample.execute("SELECT email FROM users ORDER BY id")]
    tries = emails + [e.upper() for e in emails[:20]] + ["nobody@nowhere.example"]
    (script,) = loadtest_statements(lists, "user_by_email", tmp_path)
    for email in tries:
        before = sample.execute(OLD_LOGIN, {"email": email}).fetchall()
        assert sample.execute(sql_text("app/user_by_email.sql"),
                              {"email": email}).fetchall() == before, email
    for index, email in enumerate(lists["emails"], start=1):
        before = sample.execute(OLD_LOGIN, {"email": email}).fetchall()
        assert len(before) == 1
        assert sample.execute(script, {"email": index}).fetchall() == before


def check_login_reads_one_partition(sample: Conn) -> None:
    email = sample.execute("SELECT email FROM users ORDER BY id DESC LIMIT 1").fetchone()
    assert email is not None
    row = sample.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql_text("app/user_by_email.sql"),
                         {"email": email[0]}).fetchone()
    assert row is not None
    scans = [node for node in _nodes(row[0]) if str(node.get("Relation Name", "")).startswith(
        "users_") and node["Node Type"].endswith("Scan")]
    assert len(scans) == 4  # planned on every partition ...
    assert len([n for n in scans if n["Actual Loops"]]) == 1  # ... read on one


def _state(conn: Conn, enrollment_id: int) -> list[Any]:
    enrollment = conn.execute(
        "SELECT id, enrolled_at, progress_percentage, status FROM enrollments WHERE id = %s",
        (enrollment_id,)).fetchall()
    progress = conn.execute(
        "SELECT id, status, completed_at IS NOT NULL, time_spent_minutes FROM module_progress "
        "WHERE enrollment_id = %s ORDER BY id", (enrollment_id,)).fetchall()
    return [enrollment, progress]


def check_progress_update(sample: Conn, lists: dict[str, Any], tmp_path: Path) -> None:
    statements = loadtest_statements(lists, "progress_update", tmp_path)
    assert len(statements) == 2
    ids = [r[0] for r in sample.execute("SELECT id FROM enrollment_keys ORDER BY id")]
    changed = 0
    for enrollment_id in ids[::8]:
        values = {"enrollment_id": enrollment_id, "minutes": 17}
        outcomes = []
        for update in (OLD_ENROLLMENT_UPDATE, statements[1]):
            with sample.transaction(force_rollback=True):
                sample.execute(statements[0], values)
                count = sample.execute(update, values).rowcount
                outcomes.append((count, _state(sample, enrollment_id)))
        assert outcomes[0] == outcomes[1], enrollment_id
        changed += outcomes[0][0]
    assert changed > 0  # some enrollments were open, so some rows moved


def check_enroll(sample: Conn, lists: dict[str, Any], tmp_path: Path) -> None:
    (script,) = loadtest_statements(lists, "enroll", tmp_path)
    enrolled = sample.execute("SELECT student_id, course_id FROM enrollment_keys "
                              "ORDER BY id LIMIT 5").fetchall()
    students = [r[0] for r in sample.execute(
        "SELECT id FROM users WHERE role = 'student' ORDER BY id LIMIT 5")]
    teacher = sample.execute("SELECT id FROM users WHERE role = 'teacher' LIMIT 1").fetchone()
    courses = [r[0] for r in sample.execute("SELECT id FROM courses ORDER BY id DESC LIMIT 5")]
    assert teacher is not None
    pairs = enrolled + list(zip(students, courses, strict=True)) + [(teacher[0], courses[0])]
    for student, course in pairs:
        values = {"student_id": student, "course_id": course}
        outcomes = []
        for statement in (OLD_ENROLL, script, sql_text("app/enroll.sql")):
            with sample.transaction(force_rollback=True):
                sample.execute(statement, values)
                outcomes.append(sample.execute(
                    "SELECT e.student_id, e.course_id, e.status, e.progress_percentage, "
                    "k.enrolled_at = e.enrolled_at FROM enrollments e "
                    "JOIN enrollment_keys k USING (id) "
                    "WHERE e.student_id = %(student_id)s AND e.course_id = %(course_id)s",
                    values).fetchall())
        assert outcomes[0] == outcomes[1] == outcomes[2], (student, course)
        assert len(outcomes[0]) == (0 if (student, course) == (teacher[0], courses[0]) else 1)


def _enroll_twice_at_once(connect_to: Any, statement: str) -> list[str]:
    """Two sessions enroll one student in one course, the second while the first has not
    committed; the second one's SQLSTATE."""
    first, second = connect_to(), connect_to()
    student = first.execute("INSERT INTO users (email, password_hash, role, grade) "
                            "VALUES ('amani@school.example', 'x', 'student', 7) "
                            "RETURNING id").fetchone()
    teacher = first.execute("INSERT INTO users (email, password_hash, role) "
                            "VALUES ('mwalimu@school.example', 'x', 'teacher') "
                            "RETURNING id").fetchone()
    assert student is not None and teacher is not None
    course = first.execute("INSERT INTO courses (title, instructor_id, grade, category) "
                           "VALUES ('Mathematics 7', %s, 7, 'Mathematics') RETURNING id",
                           (teacher[0],)).fetchone()
    assert course is not None
    values = {"student_id": student[0], "course_id": course[0]}
    assert first.execute("SELECT count(*) FROM enrollment_keys WHERE student_id = "
                         "%(student_id)s AND course_id = %(course_id)s",
                         values).fetchone() == (0,)
    first.execute("BEGIN")
    first.execute(statement, values)
    outcome: list[str] = []

    def wait() -> None:
        try:
            second.execute(statement, values)
            outcome.append("00000")
        except psycopg.Error as exc:
            outcome.append(exc.sqlstate or "?")

    thread = threading.Thread(target=wait)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive(), "the second enroll did not wait for the first"
    first.execute("COMMIT")
    thread.join(10)
    count = first.execute("SELECT count(*) FROM enrollments WHERE student_id = "
                          "%(student_id)s AND course_id = %(course_id)s", values).fetchone()
    assert count == (1,)
    return outcome


def test_two_enrolls_at_once_give_one_enrollment_and_no_error(connect_to: Any) -> None:
    assert _enroll_twice_at_once(connect_to, sql_text("app/enroll.sql")) == ["00000"]


def test_the_old_enroll_failed_when_two_ran_at_once(connect_to: Any) -> None:
    """What #21 fixed: NOT EXISTS then INSERT let both pass the test; the second failed."""
    assert _enroll_twice_at_once(connect_to, OLD_ENROLL) == ["23505"]


def _nodes(tree: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(tree, dict):
        found.append(tree)
        for value in tree.values():
            found.extend(_nodes(value))
    elif isinstance(tree, list):
        for item in tree:
            found.extend(_nodes(item))
    return found


def check_listing_index(sample: Conn) -> None:
    """On a small catalogue the planner may scan the table; what must hold is that the
    covering index can serve the page without the heap (on the national sample it is
    chosen: docs/decisions/0028)."""
    sample.execute("VACUUM courses")
    with sample.transaction(force_rollback=True):
        sample.execute("SET LOCAL enable_seqscan = off")
        sample.execute("SET LOCAL enable_bitmapscan = off")
        row = sample.execute(
            "EXPLAIN (FORMAT JSON) SELECT id, title, methodology, duration, max_students "
            "FROM courses WHERE grade = 8 AND category = 'Mathematics' AND is_active "
            "ORDER BY title LIMIT 50").fetchone()
    assert row is not None
    plan = json.dumps(row[0])
    assert '"Index Only Scan"' in plan and "idx_courses_listing_covering" in plan
