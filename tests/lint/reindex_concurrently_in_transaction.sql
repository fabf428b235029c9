-- REINDEX CONCURRENTLY cannot run in a transaction block.
-- expect: cannot-run-in-transaction 4:1

REINDEX INDEX CONCURRENTLY idx_courses_category;
