-- read: full-text course search (sql/app/course_search.sql), on the stored vector and its
-- GIN index idx_courses_search_vector (migration 0008). The words come from the loaded titles.
\set word random(1, {{ words | length }})
SELECT c.id, c.title, c.grade, c.category, ts_rank(c.search_vector, query) AS rank
FROM courses c,
     websearch_to_tsquery('english', ({{ words | sql_array }})[:word]) AS query
WHERE c.search_vector @@ query
ORDER BY rank DESC, c.id
LIMIT 20;
