-- write: a student enrolls in a course (the key-table trigger keeps one enrollment per
-- student and course; an existing enrollment is skipped rather than failed).
\set student_id random(:student_min, :student_max)
\set course_id random(:course_min, :course_max)
INSERT INTO enrollments (student_id, course_id, status)
SELECT :student_id, :course_id, 'enrolled'
 WHERE EXISTS (SELECT 1 FROM users WHERE id = :student_id AND role = 'student')
   AND NOT EXISTS (SELECT 1 FROM enrollment_keys
                    WHERE student_id = :student_id AND course_id = :course_id);
