-- depends: 0006_assessments
-- The seed's two views, unchanged.

CREATE VIEW student_progress AS
SELECT
    u.id AS student_id,
    u.first_name,
    u.last_name,
    c.id AS course_id,
    c.title AS course_title,
    c.grade,
    e.progress_percentage,
    e.status,
    e.enrolled_at
FROM users u
JOIN enrollments e ON u.id = e.student_id
JOIN courses c ON e.course_id = c.id
WHERE u.role = 'student';

CREATE VIEW course_stats AS
SELECT
    c.id,
    c.title,
    c.grade,
    c.category,
    COUNT(e.id) AS enrolled_students,
    AVG(e.progress_percentage) AS avg_progress,
    COUNT(CASE WHEN e.status = 'completed' THEN 1 END) AS completed_students
FROM courses c
LEFT JOIN enrollments e ON c.id = e.course_id
GROUP BY c.id, c.title, c.grade, c.category;
