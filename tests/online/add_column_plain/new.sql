INSERT INTO courses (id, title, instructor_id, grade, category, code, level, mentor_id) SELECT 90002, 'New course', min(id), 8, 'maths', 'M8', 2, max(id) FROM users;
