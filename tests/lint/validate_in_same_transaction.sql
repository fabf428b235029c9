-- VALIDATE in the transaction that added the constraint keeps the ADD's lock.
-- expect: constraint-not-valid 5:1

ALTER TABLE courses ADD CONSTRAINT courses_max_students_positive CHECK (max_students > 0) NOT VALID;
ALTER TABLE courses VALIDATE CONSTRAINT courses_max_students_positive;
