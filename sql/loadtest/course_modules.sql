-- read: a course's modules in order (the course page), by idx_modules_order.
\set course_id random(:course_min, :course_max)
SELECT id, title, module_type, content_url, duration_minutes, is_required
FROM course_modules
WHERE course_id = :course_id
ORDER BY sequence_order;
