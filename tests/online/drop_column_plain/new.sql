INSERT INTO courses (id, title, instructor_id, grade, category) SELECT 90002, 'New', min(id), 7, 'maths' FROM users;
UPDATE courses SET title = 'Old, renamed' WHERE id = 90001;
