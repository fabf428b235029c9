DROP VIEW student_progress;
CREATE VIEW student_progress AS
SELECT
    u.id AS student_id,
    u.first_name,
    u.last_name,
    c.id AS course_id,
    c.title AS course_title,
    c.grade,
    e.progress_percentage,
    e.status
FROM users u
JOIN enrollments e ON u.id = e.student_id
JOIN courses c ON e.course_id = c.id
WHERE u.role = 'student';
