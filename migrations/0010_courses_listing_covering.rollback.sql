-- transactional: false
DROP INDEX CONCURRENTLY IF EXISTS idx_courses_listing_covering;
