-- int to smallint: a rewrite, and larger values no longer fit.
-- expect: rewrite-column-type 5:1
-- expect: narrow-column-type 5:1

ALTER TABLE courses ALTER COLUMN max_students TYPE smallint;
