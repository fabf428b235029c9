ALTER TABLE enrollments DROP COLUMN grade;
