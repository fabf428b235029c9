-- depends: 0008_courses_search_vector
-- transactional: false
-- The catalogue page lists the active courses of one grade and category by title, 50 at a
-- time. idx_courses_grade_category finds them, but all of them, to be sorted: at national
-- scale (71,693 courses, about 2,000 per grade and category) 2.5 ms a query, against
-- 0.15 ms with this index, which returns them in title order so the LIMIT stops after 50
-- (measured, docs/decisions/0020). Partial: inactive courses are never listed.
CREATE INDEX CONCURRENTLY idx_courses_listing ON courses (grade, category, title)
    WHERE is_active;
