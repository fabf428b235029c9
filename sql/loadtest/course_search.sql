-- read: full-text course search (sql/app/course_search.sql): exactly the expression of
-- idx_courses_fts, so the GIN index serves it. The words come from the loaded titles.
\set word random(1, {{ words | length }})
SELECT c.id, c.title, c.grade, c.category,
       ts_rank(to_tsvector('english', coalesce(c.title, '') || ' ' || coalesce(c.description, '')),
               query) AS rank
FROM courses c,
     websearch_to_tsquery('english', ({{ words | sql_array }})[:word]) AS query
WHERE to_tsvector('english', coalesce(c.title, '') || ' ' || coalesce(c.description, '')) @@ query
ORDER BY rank DESC, c.id
LIMIT 20;
