"""The seed's views and application queries: results on hand-built data, and their plans."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from watoto_schema.resources import sql_text

Conn = psycopg.Connection[Any]


@pytest.fixture
def small_school(db_conn: Conn) -> dict[str, int]:
    """Hand-built data whose view results are known exactly."""
    ids: dict[str, int] = {}
    for key, email, role, grade, first, last in [
        ("teacher", "t@x.org", "teacher", None, "Baraka", "Mwangi"),
        ("amani", "amani@x.org", "student", 7, "Amani", "Otieno"),
        ("zawadi", "zawadi@x.org", "student", 7, "Zawadi", "Njeri"),
        ("admin", "admin@x.org", "admin", None, "Ada", "Min"),
    ]:
        row = db_conn.execute(
            "INSERT INTO users (email, password_hash, role, grade, first_name, last_name) "
            "VALUES (%s, 'h', %s, %s, %s, %s) RETURNING id",
            (email, role, grade, first, last)).fetchone()
        assert row is not None
        ids[key] = row[0]
    for key, title, category in [("maths", "Mathematics 7", "Mathematics"),
                                 ("kiswahili", "Kiswahili 7", "Languages"),
                                 ("empty", "Art 7", "Creative Arts")]:
        row = db_conn.execute(
            "INSERT INTO courses (title, instructor_id, grade, category) VALUES (%s, %s, 7, %s) "
            "RETURNING id", (title, ids["teacher"], category)).fetchone()
        assert row is not None
        ids[key] = row[0]
    for student, course, at, pct, status in [
        ("amani", "maths", "2024-02-01", 100, "completed"),
        ("amani", "kiswahili", "2025-02-01", 40, "in_progress"),
        ("zawadi", "maths", "2025-09-01", 50, "in_progress"),
        ("zawadi", "kiswahili", "2026-01-10", 0, "dropped"),
        ("admin", "maths", "2030-01-01", 0, "enrolled"),  # lands in DEFAULT; not a student
    ]:
        db_conn.execute(
            "INSERT INTO enrollments (student_id, course_id, enrolled_at, progress_percentage, "
            "status) VALUES (%s, %s, %s, %s, %s)", (ids[student], ids[course], at, pct, status))
    return ids


def test_student_progress_view(db_conn: Conn, small_school: dict[str, int]) -> None:
    rows = db_conn.execute(
        "SELECT first_name, course_title, progress_percentage, status FROM student_progress "
        "ORDER BY first_name, course_title").fetchall()
    assert rows == [
        ("Amani", "Kiswahili 7", Decimal("40.00"), "in_progress"),
        ("Amani", "Mathematics 7", Decimal("100.00"), "completed"),
        ("Zawadi", "Kiswahili 7", Decimal("0.00"), "dropped"),
        ("Zawadi", "Mathematics 7", Decimal("50.00"), "in_progress"),
    ]


def test_course_stats_view(db_conn: Conn, small_school: dict[str, int]) -> None:
    rows = db_conn.execute(
        "SELECT title, enrolled_students, round(avg_progress, 2), completed_students "
        "FROM course_stats ORDER BY title").fetchall()
    assert rows == [
        ("Art 7", 0, None, 0),
        ("Kiswahili 7", 2, Decimal("20.00"), 0),
        ("Mathematics 7", 3, Decimal("50.00"), 1),
    ]


def test_student_dashboard_query(db_conn: Conn, small_school: dict[str, int]) -> None:
    rows = db_conn.execute(sql_text("app/student_dashboard.sql"),
                           {"student_id": small_school["zawadi"]}).fetchall()
    assert rows == [("Mathematics 7", "Mathematics", Decimal("50.00"), "in_progress")]
    rows = db_conn.execute(sql_text("app/student_dashboard.sql"),
                           {"student_id": small_school["amani"]}).fetchall()
    assert [r[0] for r in rows] == ["Kiswahili 7", "Mathematics 7"]  # newest first


def test_course_analytics_query(db_conn: Conn, small_school: dict[str, int]) -> None:
    row = db_conn.execute(sql_text("app/course_analytics.sql"),
                          {"course_id": small_school["maths"]}).fetchone()
    assert row == (3, Decimal("50.0000000000000000"), 1)


def test_search_finds_rows_with_null_parts(db_conn: Conn, small_school: dict[str, int]) -> None:
    """A NULL description or last name must not hide the row from full-text search."""
    db_conn.execute("UPDATE courses SET description = NULL")
    db_conn.execute("UPDATE users SET last_name = NULL WHERE first_name = 'Zawadi'")
    found = db_conn.execute(sql_text("app/course_search.sql"), {"query": "mathematics"}).fetchall()
    assert [r[1] for r in found] == ["Mathematics 7"]
    users = db_conn.execute(sql_text("app/user_search.sql"), {"query": "zawadi"}).fetchall()
    assert [r[1] for r in users] == ["Zawadi"]


@pytest.fixture
def big_school(db_conn: Conn) -> None:
    """Enough rows (6k users, 600 courses, 24k enrollments) for the planner to prefer indexes."""
    db_conn.execute("""
        INSERT INTO users (email, password_hash, role, grade, first_name, last_name)
        SELECT 'u' || g || '@school.example', 'h',
               CASE WHEN g % 10 = 0 THEN 'teacher' ELSE 'student' END, 7 + g % 3,
               'First' || g, 'Last' || g
          FROM generate_series(1, 6000) g""")
    db_conn.execute("""
        INSERT INTO courses (title, description, instructor_id, grade, category)
        SELECT 'Course ' || g || CASE WHEN g = 77 THEN ' photosynthesis' ELSE '' END,
               CASE WHEN g % 3 = 0 THEN NULL ELSE 'About topic ' || g END,
               10 * (1 + g % 500), 7 + g % 3, 'Category ' || g % 12
          FROM generate_series(1, 600) g""")
    db_conn.execute("""
        INSERT INTO enrollments (student_id, course_id, enrolled_at, status, progress_percentage)
        SELECT u.id, 1 + (u.id * 7 + k * 131) % 600,
               timestamp '2024-01-01' + (u.id * 13 + k * 17) % 1000 * interval '1 day',
               (ARRAY['enrolled', 'in_progress', 'completed', 'dropped'])[1 + (u.id + k) % 4],
               (u.id + k) % 100
          FROM users u, generate_series(1, 4) k
         WHERE u.role = 'student'""")
    db_conn.execute("ANALYZE")


def _plan(conn: Conn, query: str, params: dict[str, Any]) -> str:
    plan = conn.execute("EXPLAIN (FORMAT JSON) " + query, params).fetchone()
    assert plan is not None
    return json.dumps(plan[0])


def test_course_search_uses_its_indexes(db_conn: Conn, big_school: None) -> None:
    # On this small catalogue the planner may well scan; what must hold is that each path
    # of the search can be served by its index: a one-word search by the rank-ordered
    # course_search_terms (migration 0011, decision 0033), any other query by the stored
    # vector's GIN index (migration 0008; on the 100,000-student sample it is chosen:
    # docs/decisions/0019).
    with db_conn.transaction(force_rollback=True):
        db_conn.execute("SET LOCAL enable_seqscan = off")
        one = _plan(db_conn, sql_text("app/course_search.sql"), {"query": "photosynthesis"})
        two = _plan(db_conn, sql_text("app/course_search.sql"),
                    {"query": "photosynthesis plants"})
    assert '"Index Name": "idx_course_search_terms_rank"' in one
    assert '"Index Name": "idx_courses_search_vector"' in two
    assert _seq_scans(one, "courses") == _seq_scans(two, "courses") == []


def test_user_search_uses_the_gin_index(db_conn: Conn, big_school: None) -> None:
    plan = _plan(db_conn, sql_text("app/user_search.sql"), {"query": "First4242"})
    assert "to_tsvector_idx" in plan  # the partitions' copies of idx_users_fts
    assert _seq_scans(plan, "users") == []


def test_dashboard_uses_the_student_index_on_every_filled_partition(db_conn: Conn,
                                                             big_school: None) -> None:
    plan = _plan(db_conn, sql_text("app/student_dashboard.sql"), {"student_id": 4242})
    empty = {r[0] for r in db_conn.execute(
        "SELECT relname FROM pg_class WHERE relname LIKE 'enrollments%' AND reltuples <= 0")}
    assert {"enrollments_2027", "enrollments_default"} <= empty  # scanning nothing is fine
    assert set(_seq_scans(plan, "enrollments")) <= empty
    assert "student_id_status_idx" in plan


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


def _seq_scans(plan: str, table_prefix: str) -> list[str]:
    return [str(node["Relation Name"]) for node in _nodes(json.loads(plan))
            if node.get("Node Type") == "Seq Scan"
            and str(node.get("Relation Name", "")).startswith(table_prefix)]
