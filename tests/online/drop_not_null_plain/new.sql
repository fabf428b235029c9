INSERT INTO course_modules (id, course_id, title, module_type, sequence_order) SELECT 90002, min(id), 'New', 'video', NULL FROM courses;
