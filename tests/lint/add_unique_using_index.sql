-- transactional: false
-- The safe rewrite: build the index concurrently, then attach it as the constraint.
-- expect: clean

CREATE UNIQUE INDEX CONCURRENTLY course_modules_title_key ON course_modules (course_id, title);
ALTER TABLE course_modules ADD CONSTRAINT course_modules_title_key UNIQUE USING INDEX course_modules_title_key;
