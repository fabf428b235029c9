-- depends: 0007_views
-- transactional: false
-- Course search ranks its matches with ts_rank, which needs each match's tsvector. With only
-- the expression index idx_courses_fts, PostgreSQL recomputed to_tsvector(title ||
-- description) for every matching row: 20 ms for a topic word matching 921 of 7,190
-- courses at 100,000 students (ten times that at national scale), against 1.2 ms with the
-- vector stored (measured with `watoto-schema loadtest`, docs/decisions/0019). The stored,
-- generated column keeps the vector; its GIN index serves the search. idx_courses_fts stays
-- until applications search on search_vector (sql/app/course_search.sql does): dropping it
-- first would leave their queries without an index.
-- lint: allow volatile-default (courses is the catalogue: 70,000 rows at national scale, rewritten in well under a second; measured in decision 0019)
ALTER TABLE courses ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    to_tsvector('english', coalesce(title, '') || ' ' || coalesce(description, ''))
) STORED;

CREATE INDEX CONCURRENTLY idx_courses_search_vector ON courses USING gin (search_vector);
