-- Course analytics (seed "Common Query Patterns"); the seed's $1 is %(course_id)s.
-- Served by idx_enrollments_course on each enrollments partition.
SELECT
    COUNT(*) AS total_students,
    AVG(progress_percentage) AS avg_progress,
    COUNT(CASE WHEN status = 'completed' THEN 1 END) AS completed_count
FROM enrollments
WHERE course_id = %(course_id)s
