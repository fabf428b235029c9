-- The safe rewrite.
-- expect: clean

ALTER TABLE courses ADD CONSTRAINT courses_max_students_positive CHECK (max_students > 0) NOT VALID;
