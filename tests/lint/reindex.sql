-- REINDEX without CONCURRENTLY blocks writes and reads through the index.
-- expect: reindex-not-concurrently 4:1

REINDEX INDEX idx_courses_category;
