"""The tables sample-data fills, their columns and sequences, and the key tables."""

from __future__ import annotations

# Tables load() fills with COPY, in load (foreign-key) order, and their id sequences.
TABLES: tuple[str, ...] = (
    "users", "courses", "course_modules", "assessments", "enrollments", "module_progress",
    "assessment_submissions",
)
# The generator makes the first five row by row in Python; a second session on the server
# makes the last two from the generator's plan (``server``), far faster than Python could.
_MADE_IN_PYTHON: tuple[str, ...] = TABLES[:5]
_MADE_ON_SERVER: tuple[str, ...] = TABLES[5:]
SEQUENCES: dict[str, str] = {
    "users": "users_id_seq",
    "courses": "courses_id_seq",
    "course_modules": "course_modules_id_seq",
    "assessments": "assessments_id_seq",
    "enrollments": "enrollments_id_seq",
    "module_progress": "module_progress_id_seq",
    "assessment_submissions": "assessment_submissions_id_seq",
}
# The tables the row triggers of users, courses and enrollments maintain (key tables and
# course search's terms), and the table each is filled from (by the statement of
# _FILL_KEYS at the same position).
KEY_TABLES: tuple[str, ...] = ("user_email_keys", "course_search_terms", "enrollment_keys")
_KEY_SOURCES: tuple[str, ...] = ("users", "courses", "enrollments")
# Tables ANALYZEd after the load: the loaded ones plus the trigger-maintained key tables.
_ANALYZE: tuple[str, ...] = (*TABLES, *KEY_TABLES)
# What the row triggers would have written, set-based (watoto_users_sync_email_key,
# watoto_courses_sync_search_terms and watoto_enrollments_sync_keys in migrations 0002,
# 0011 and 0004).
_FILL_KEYS: tuple[str, ...] = (
    "INSERT INTO user_email_keys (email_key, user_id) SELECT lower(email), id FROM users",
    "INSERT INTO course_search_terms (course_id, term, rank) "
    "SELECT c.id, q.term, ts_rank(c.search_vector, q.term) FROM courses c, "
    "unnest(c.search_vector) AS u, LATERAL watoto_lexeme_query(u.lexeme) AS q (term)",
    "INSERT INTO enrollment_keys (id, student_id, course_id, enrolled_at) "
    "SELECT id, student_id, course_id, enrolled_at FROM enrollments",
)

_COLUMNS: dict[str, str] = {
    "users": "id, email, password_hash, first_name, last_name, role, grade, is_active, "
             "last_login, created_at, updated_at",
    "courses": "id, title, description, instructor_id, grade, category, methodology, duration, "
               "is_active, max_students, created_at, updated_at",
    "course_modules": "id, course_id, title, description, module_type, content_url, "
                      "content_text, duration_minutes, is_required, sequence_order, created_at",
    "assessments": "id, course_id, module_id, title, description, assessment_type, total_points, "
                   "passing_score, time_limit_minutes, is_graded, created_at",
    "enrollments": "id, student_id, course_id, enrolled_at, completed_at, progress_percentage, "
                   "current_module_id, status, grade, notes",
    "module_progress": "id, enrollment_id, module_id, started_at, completed_at, "
                       "time_spent_minutes, score, attempts, status",
    "assessment_submissions": "id, assessment_id, student_id, submitted_at, content, file_url, "
                              "score, feedback, graded_by, graded_at, status",
}
