-- Full-text course search. The tsvector expression must be exactly the one of
-- idx_courses_fts (migrations/0003_courses.sql) for the GIN index to be used.
SELECT c.id, c.title, c.grade, c.category,
       ts_rank(to_tsvector('english', coalesce(c.title, '') || ' ' || coalesce(c.description, '')),
               query) AS rank
FROM courses c,
     websearch_to_tsquery('english', %(query)s) AS query
WHERE to_tsvector('english', coalesce(c.title, '') || ' ' || coalesce(c.description, '')) @@ query
ORDER BY rank DESC, c.id
LIMIT 20
