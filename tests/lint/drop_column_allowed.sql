-- The same, reviewed and allowed on the statement.
-- expect: clean

ALTER TABLE courses DROP COLUMN duration; -- lint: allow drop-column (unused since release 3.2)
