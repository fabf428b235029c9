ALTER TABLE assessments DROP CONSTRAINT assessments_course_id_fkey;
ALTER TABLE assessments ADD CONSTRAINT assessments_course_id_fkey FOREIGN KEY (course_id) REFERENCES courses (id) NOT VALID;
