-- The safe rewrite: NOT VALID now, VALIDATE later.
-- expect: clean

ALTER TABLE courses ADD CONSTRAINT courses_instructor_fk2 FOREIGN KEY (instructor_id) REFERENCES users (id) NOT VALID;
