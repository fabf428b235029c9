-- read: full-text course search (sql/app/course_search.sql): a one-word search reads its 20
-- best-ranked courses from course_search_terms in rank order (migration 0011), anything
-- else ranks its matches on the stored vector's GIN index (migration 0008). The words come
-- from the loaded titles.
\set word random(1, {{ words | length }})
SELECT id, title, grade, category, rank
  FROM ((SELECT c.id, c.title, c.grade, c.category, t.rank
           FROM course_search_terms t
           JOIN courses c ON c.id = t.course_id
          WHERE t.term = websearch_to_tsquery('english', ({{ words | sql_array }})[:word])
          ORDER BY t.rank DESC, t.course_id
          LIMIT 20)
        UNION ALL
        (SELECT c.id, c.title, c.grade, c.category, ts_rank(c.search_vector, query) AS rank
           FROM courses c,
                websearch_to_tsquery('english', ({{ words | sql_array }})[:word]) AS query
          WHERE numnode(query) > 1 AND c.search_vector @@ query
          ORDER BY rank DESC, c.id
          LIMIT 20)) AS found
 ORDER BY rank DESC, id;
