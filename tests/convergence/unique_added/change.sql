ALTER TABLE course_modules ADD CONSTRAINT course_modules_course_order_key UNIQUE (course_id, sequence_order);
