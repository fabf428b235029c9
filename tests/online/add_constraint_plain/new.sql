INSERT INTO course_modules (id, course_id, title, module_type, sequence_order, duration_minutes) SELECT 90002, min(id), 'New', 'video', 4, 15 FROM courses;
