ALTER TABLE course_modules DROP CONSTRAINT course_modules_course_id_fkey;
ALTER TABLE course_modules ADD CONSTRAINT course_modules_course_id_fkey FOREIGN KEY (course_id) REFERENCES courses (id) ON DELETE RESTRICT;
