-- Enroll a student in a course unless already enrolled: %(student_id)s, %(course_id)s.
-- Returns the new enrollment's id, or no row when the student is already enrolled in the
-- course (in any year) or is not a student. Safe under concurrency: the enrollment's key
-- is claimed first in the key table enrollment_keys with INSERT ... ON CONFLICT DO NOTHING
-- on its unique (student_id, course_id); a concurrent enroll of the same pair waits for
-- that claim and then does nothing, instead of passing a NOT EXISTS test at the same time
-- and failing with unique_violation. The enrollment row takes the claimed key (its id, its
-- enrolled_at), and its trigger finds the key row already in place. The key table's
-- foreign key to enrollments is checked at the end of the statement, when both rows are
-- there (docs/decisions/0027). The only statement that writes a key table itself.
WITH claimed AS (
    INSERT INTO enrollment_keys (id, student_id, course_id, enrolled_at)
    SELECT nextval('enrollments_id_seq'), %(student_id)s, %(course_id)s, LOCALTIMESTAMP
     WHERE EXISTS (SELECT 1 FROM users WHERE id = %(student_id)s AND role = 'student')
    ON CONFLICT (student_id, course_id) DO NOTHING
    RETURNING id, student_id, course_id, enrolled_at
)
INSERT INTO enrollments (id, student_id, course_id, enrolled_at, status)
SELECT id, student_id, course_id, enrolled_at, 'enrolled' FROM claimed
RETURNING id
