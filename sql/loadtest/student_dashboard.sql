-- read: a student's dashboard (sql/app/student_dashboard.sql), by idx_enrollments_student_status.
\set student_id random(:student_min, :student_max)
SELECT c.title, c.category, e.progress_percentage, e.status
FROM enrollments e
JOIN courses c ON e.course_id = c.id
WHERE e.student_id = :student_id AND e.status != 'dropped'
ORDER BY e.enrolled_at DESC;
