-- VALIDATE in a migration of its own takes SHARE UPDATE EXCLUSIVE: reads and writes go on.
-- expect: clean

ALTER TABLE courses VALIDATE CONSTRAINT courses_max_students_positive;
