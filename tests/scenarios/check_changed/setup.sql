ALTER TABLE courses DROP CONSTRAINT courses_grade_check;
ALTER TABLE courses ADD CONSTRAINT courses_grade_check CHECK (grade BETWEEN 6 AND 9);
