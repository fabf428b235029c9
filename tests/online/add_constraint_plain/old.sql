INSERT INTO course_modules (id, course_id, title, module_type, sequence_order, duration_minutes) SELECT 90001, min(id), 'Old', 'video', 3, 0 FROM courses;
