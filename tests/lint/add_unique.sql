-- ADD UNIQUE builds its index under ACCESS EXCLUSIVE.
-- expect: unique-without-index 4:1

ALTER TABLE course_modules ADD CONSTRAINT course_modules_title_key UNIQUE (course_id, title);
