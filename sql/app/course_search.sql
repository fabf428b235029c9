-- Full-text course search: the 20 best-ranked courses, ts_rank(search_vector, query) DESC
-- then id, as two branches of which only one ever returns rows (docs/decisions/0033):
-- * one word (the query is a single lexeme): course_search_terms (migration 0011) holds
--   each course's rank for each of its lexemes, and idx_course_search_terms_rank returns
--   the word's courses in rank order, so 20 index entries and 20 courses are read however
--   many courses contain the word;
-- * anything else (several words, a phrase, "or", a negation): the stored vector's GIN
--   index idx_courses_search_vector finds the matches and ts_rank reads each one's vector
--   (docs/decisions/0019); several words narrow the matches to few.
SELECT id, title, grade, category, rank
  FROM ((SELECT c.id, c.title, c.grade, c.category, t.rank
           FROM course_search_terms t
           JOIN courses c ON c.id = t.course_id
          WHERE t.term = websearch_to_tsquery('english', %(query)s)
          ORDER BY t.rank DESC, t.course_id
          LIMIT 20)
        UNION ALL
        (SELECT c.id, c.title, c.grade, c.category, ts_rank(c.search_vector, query) AS rank
           FROM courses c,
                websearch_to_tsquery('english', %(query)s) AS query
          WHERE numnode(query) > 1 AND c.search_vector @@ query
          ORDER BY rank DESC, c.id
          LIMIT 20)) AS found
 ORDER BY rank DESC, id
