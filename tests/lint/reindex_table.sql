-- REINDEX TABLE without CONCURRENTLY.
-- expect: reindex-not-concurrently 4:1

REINDEX TABLE enrollments;
