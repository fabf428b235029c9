INSERT INTO courses (id, title, instructor_id, grade, category, methodology) SELECT 90002, 'New', min(id), 7, 'maths', 'project' FROM users;
SELECT count(*) FROM courses WHERE methodology IS NULL;
