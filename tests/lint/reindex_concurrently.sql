-- transactional: false
-- The safe rewrite.
-- expect: clean

REINDEX INDEX CONCURRENTLY idx_courses_category;
