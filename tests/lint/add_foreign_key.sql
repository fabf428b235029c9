-- A validated foreign key checks every row while blocking writes to both tables.
-- expect: constraint-not-valid 4:1

ALTER TABLE courses ADD CONSTRAINT courses_instructor_fk2 FOREIGN KEY (instructor_id) REFERENCES users (id);
