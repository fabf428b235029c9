-- SET NOT NULL scans the table under ACCESS EXCLUSIVE.
-- expect: set-not-null 4:1

ALTER TABLE courses ALTER COLUMN methodology SET NOT NULL;
