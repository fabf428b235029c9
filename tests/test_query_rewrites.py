"""#21's SQL changes: the enroll that claims its key with ON CONFLICT has the outcome the
NOT EXISTS version had, on a small sample-data load, and holds under concurrency where the
old one failed; the catalogue listing can be served by migration 0010's covering index
alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from watoto_schema.loadtest.scripts import parameters, render
from watoto_schema.resources import sql_text
from watoto_schema.sample_data import load
from watoto_schema.target import Target

from .test_guarantees import _outcome_after_waiting

Conn = psycopg.Connection[Any]
STUDENTS = 150

# The statement as shipped before #21.
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


def test_enroll_keeps_its_outcomes_and_the_listing_reads_only_its_index(
        sample: Conn, tmp_path: Path) -> None:
    """One sample-data load for both checks (each load costs seconds)."""
    _, lists = parameters(sample)
    check_enroll(sample, lists, tmp_path)
    check_listing_index(sample)


def loadtest_statements(lists: dict[str, Any], name: str, tmp: Path) -> list[str]:
    """The shipped load-test script, rendered as `loadtest` does, as psycopg statements."""
    text = render(tmp, [name], lists)[name].read_text()
    body = "\n".join(line for line in text.splitlines() if not line.startswith(("\\", "--")))
    return [re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", part.strip())
            for part in body.split(";")
            if part.strip() and part.strip().upper() not in ("BEGIN", "END")]


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
    outcome = [_outcome_after_waiting(first, second, statement, values)]
    count = first.execute("SELECT count(*) FROM enrollments WHERE student_id = "
                          "%(student_id)s AND course_id = %(course_id)s", values).fetchone()
    assert count == (1,)
    return outcome


def test_two_enrolls_at_once_give_one_enrollment_and_no_error(connect_to: Any) -> None:
    assert _enroll_twice_at_once(connect_to, sql_text("app/enroll.sql")) == ["00000"]


def test_the_old_enroll_failed_when_two_ran_at_once(connect_to: Any) -> None:
    """What #21 fixed: NOT EXISTS then INSERT let both pass the test; the second failed."""
    assert _enroll_twice_at_once(connect_to, OLD_ENROLL) == ["23505"]


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
