-- int to bigint rewrites the table and its indexes.
-- expect: rewrite-column-type 4:1

ALTER TABLE courses ALTER COLUMN max_students TYPE bigint;
