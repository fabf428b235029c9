-- Student dashboard (seed "Common Query Patterns"); the seed's $1 is %(student_id)s.
-- Served by idx_enrollments_student_status on each enrollments partition.
SELECT c.title, c.category, e.progress_percentage, e.status
FROM enrollments e
JOIN courses c ON e.course_id = c.id
WHERE e.student_id = %(student_id)s AND e.status != 'dropped'
ORDER BY e.enrolled_at DESC
