-- numeric(5,2) to numeric(7,2) keeps the scale: no rewrite.
-- expect: clean

ALTER TABLE enrollments ALTER COLUMN progress_percentage TYPE numeric(7,2);
