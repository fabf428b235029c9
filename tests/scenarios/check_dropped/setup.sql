ALTER TABLE courses DROP CONSTRAINT courses_grade_check;
