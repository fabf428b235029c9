DROP VIEW popular_courses;
DROP VIEW course_stats;
CREATE VIEW course_stats AS
SELECT
    c.id,
    c.title,
    c.grade,
    c.category,
    COUNT(e.id) AS enrolled_students,
    AVG(e.progress_percentage) AS average_progress,
    COUNT(CASE WHEN e.status = 'completed' THEN 1 END) AS completed_students
FROM courses c
LEFT JOIN enrollments e ON c.id = e.course_id
GROUP BY c.id, c.title, c.grade, c.category;
CREATE VIEW popular_courses AS
SELECT id, title FROM course_stats WHERE enrolled_students > 100;
