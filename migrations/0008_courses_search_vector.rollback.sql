-- transactional: false
DROP INDEX CONCURRENTLY IF EXISTS idx_courses_search_vector;
ALTER TABLE courses DROP COLUMN IF EXISTS search_vector;
