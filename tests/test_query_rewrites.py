"""#21's SQL changes: the enroll that claims its key with ON CONFLICT has the outcome the
NOT EXISTS version had, on a small sample-data load, and holds under concurrency where the
old one failed; the catalogue listing can be served by migration 0010's covering index
alone; course search through course_search_terms (migration 0011) returns what ranking
every match returned, and the trigger keeps the terms true to each course's vector.
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

# The statements as shipped before #21.
OLD_SEARCH = """
SELECT c.id, c.title, c.grade, c.category, ts_rank(c.search_vector, query) AS rank
FROM courses c,
     websearch_to_tsquery('english', %(query)s) AS query
WHERE c.search_vector @@ query
ORDER BY rank DESC, c.id
LIMIT 20"""
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


def test_enroll_search_and_listing_on_a_sample_load(sample: Conn, tmp_path: Path) -> None:
    """One sample-data load for the three checks (each load costs seconds)."""
    _, lists = parameters(sample)
    check_enroll(sample, lists, tmp_path)
    check_listing_index(sample)
    check_search(sample, lists, tmp_path)


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


def check_search(sample: Conn, lists: dict[str, Any], tmp_path: Path) -> None:
    """Every word of the catalogue, and queries of other shapes: the shipped search (app
    and load-test script) returns the rows and ranks ranking every match returned."""
    words = [r[0] for r in sample.execute(
        "SELECT DISTINCT lower(w) FROM courses, "
        "regexp_split_to_table(title || ' ' || coalesce(description, ''), '[^[:alpha:]]+') w "
        "WHERE length(w) > 1 ORDER BY 1")]
    assert len(words) > 50
    common = lists["words"][0]
    queries = [*words, f"{common} {words[0]}", f"{common} or {words[-1]}", f"-{common}",
               f'"{common} {words[1]}"', "the", "", "it's", "a\\b", "zzzunknown"]
    (script,) = loadtest_statements(lists, "course_search", tmp_path)
    matches: dict[str, int] = {}
    for query in queries:
        expected = sample.execute(OLD_SEARCH, {"query": query}).fetchall()
        matches[query] = len(expected)
        assert sample.execute(sql_text("app/course_search.sql"),
                              {"query": query}).fetchall() == expected, query
    for index, word in enumerate(lists["words"][:10], start=1):
        expected = sample.execute(OLD_SEARCH, {"query": word}).fetchall()
        assert sample.execute(script, {"word": index}).fetchall() == expected, word
    widest = max(words, key=lambda word: matches[word])
    # A word matching more courses than a page: there the ranking decides what is shown.
    found = sample.execute("SELECT count(*) FROM courses WHERE search_vector @@ "
                           "websearch_to_tsquery('english', %s)", (widest,)).fetchone()
    assert found is not None and found[0] > 20
    # The one-word path reads 20 entries of the terms' rank index and stops, however many
    # courses match (on a small catalogue the planner might prefer a scan and a sort; on the
    # national sample it chooses the index itself: docs/decisions/0033).
    with sample.transaction(force_rollback=True):
        for setting in ("seqscan", "bitmapscan", "sort", "hashjoin", "mergejoin"):
            sample.execute(f"SET LOCAL enable_{setting} = off")
        row = sample.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql_text(
            "app/course_search.sql"), {"query": widest}).fetchone()
    assert row is not None
    nodes = list(_plan_nodes(row[0][0]["Plan"]))
    used = [n for n in nodes if n.get("Index Name") == "idx_course_search_terms_rank"]
    assert used and used[0]["Actual Rows"] == 20
    assert not any(n.get("Index Name") == "idx_courses_search_vector" and n["Actual Loops"]
                   for n in nodes)


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def test_search_terms_follow_their_course(db: Target) -> None:
    """The trigger keeps one row per lexeme of each course's vector, ranked as ts_rank
    ranks the one-lexeme query: on insert, on an edit of the text, not on other edits,
    through a renumbering and a delete; lexemes with quotes and backslashes included."""
    terms = ("SELECT t.term::text, t.rank, ts_rank(c.search_vector, t.term) "
             "FROM course_search_terms t JOIN courses c ON c.id = t.course_id "
             "WHERE t.course_id = %s ORDER BY 1")
    vector = ("SELECT array_agg(lexeme ORDER BY lexeme) FROM courses, unnest(search_vector) "
              "WHERE id = %s")
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        teacher = conn.execute(
            "INSERT INTO users (email, password_hash, role) "
            "VALUES ('t@school.example', 'x', 'teacher') RETURNING id").fetchone()
        assert teacher is not None
        course = conn.execute(
            "INSERT INTO courses (title, description, instructor_id, grade, category) "
            "VALUES ('Living things', 'Plants and animals, living together', %s, 7, "
            "'Science') RETURNING id", (teacher[0],)).fetchone()
        assert course is not None
        (cid,) = course

        def check() -> list[tuple[Any, ...]]:
            rows = conn.execute(terms, (cid,)).fetchall()
            lexemes = conn.execute(vector, (cid,)).fetchone()
            assert lexemes is not None
            assert len(rows) == len(lexemes[0] or [])
            assert all(rank == expected for _, rank, expected in rows)
            return rows

        first = check()
        ranks = {term: rank for term, rank, _ in first}
        assert ranks["'live'"] > ranks["'plant'"]  # two occurrences rank above one

        conn.execute("UPDATE courses SET max_students = 60 WHERE id = %s", (cid,))
        assert check() == first
        conn.execute("UPDATE courses SET description = $$O'Brien's notes \\ path$$ "
                     "WHERE id = %s", (cid,))
        edited = check()
        assert edited != first and "'plant'" not in [r[0] for r in edited]

        # A lexeme with a quote or a backslash survives the round trip to a tsquery.
        for lexeme in ("a'b", "c\\d", "e f", "g:*", "''"):
            row = conn.execute(
                "SELECT array_to_tsvector(ARRAY[%s]) @@ watoto_lexeme_query(%s), "
                "array_to_tsvector(ARRAY['other']) @@ watoto_lexeme_query(%s)",
                (lexeme, lexeme, lexeme)).fetchone()
            assert row == (True, False), lexeme

        conn.execute("UPDATE courses SET id = id + 1000 WHERE id = %s", (cid,))
        cid += 1000
        assert check() == edited
        conn.execute("DELETE FROM courses WHERE id = %s", (cid,))
        assert conn.execute("SELECT count(*) FROM course_search_terms").fetchone() == (0,)
