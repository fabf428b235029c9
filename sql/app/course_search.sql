-- Full-text course search, on the stored vector courses.search_vector (migration 0008):
-- idx_courses_search_vector finds the matches and ts_rank reads each match's vector instead
-- of recomputing to_tsvector(title || description) (docs/decisions/0019).
SELECT c.id, c.title, c.grade, c.category, ts_rank(c.search_vector, query) AS rank
FROM courses c,
     websearch_to_tsquery('english', %(query)s) AS query
WHERE c.search_vector @@ query
ORDER BY rank DESC, c.id
LIMIT 20
