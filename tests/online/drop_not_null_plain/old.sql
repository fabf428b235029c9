INSERT INTO course_modules (id, course_id, title, module_type, sequence_order) SELECT 90001, min(id), 'Old', 'video', 3 FROM courses;
