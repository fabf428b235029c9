CREATE OR REPLACE VIEW course_stats AS
SELECT
    c.id,
    c.title,
    c.grade,
    c.category,
    COUNT(e.id) AS enrolled_students,
    AVG(e.progress_percentage) AS avg_progress,
    COUNT(CASE WHEN e.status = 'completed' THEN 1 END) AS completed_students,
    MAX(e.enrolled_at) AS last_enrolled_at
FROM courses c
LEFT JOIN enrollments e ON c.id = e.course_id
GROUP BY c.id, c.title, c.grade, c.category;
