-- write: a student enrolls in a course, skipped when already enrolled (sql/app/enroll.sql):
-- the key is claimed in enrollment_keys with ON CONFLICT DO NOTHING, so two concurrent
-- enrolls of one student in one course give one enrollment and no error (docs/decisions/0027).
\set student_id random(:student_min, :student_max)
\set course_id random(:course_min, :course_max)
WITH claimed AS (
    INSERT INTO enrollment_keys (id, student_id, course_id, enrolled_at)
    SELECT nextval('enrollments_id_seq'), :student_id, :course_id, LOCALTIMESTAMP
     WHERE EXISTS (SELECT 1 FROM users WHERE id = :student_id AND role = 'student')
    ON CONFLICT (student_id, course_id) DO NOTHING
    RETURNING id, student_id, course_id, enrolled_at
)
INSERT INTO enrollments (id, student_id, course_id, enrolled_at, status)
SELECT id, student_id, course_id, enrolled_at, 'enrolled' FROM claimed;
