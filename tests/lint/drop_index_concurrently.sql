-- transactional: false
-- The safe rewrite.
-- expect: clean

DROP INDEX CONCURRENTLY idx_courses_category;
