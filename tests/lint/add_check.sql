-- A validated CHECK scans the table under ACCESS EXCLUSIVE.
-- expect: constraint-not-valid 4:1

ALTER TABLE courses ADD CONSTRAINT courses_max_students_positive CHECK (max_students > 0);
