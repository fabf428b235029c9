-- read: the active courses of one grade and category (the course catalogue page), in
-- title order (migration 0009): no sort of the whole section; an index-only scan of
-- idx_courses_listing_covering (migration 0010), which carries the listed columns.
\set grade random(7, 9)
\set category random(1, {{ categories | length }})
SELECT id, title, methodology, duration, max_students
FROM courses
WHERE grade = :grade AND category = ({{ categories | sql_array }})[:category] AND is_active
ORDER BY title
LIMIT 50;
