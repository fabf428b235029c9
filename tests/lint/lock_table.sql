-- An explicit ACCESS EXCLUSIVE lock held for the whole migration.
-- expect: lock-table 4:1

LOCK TABLE courses;
