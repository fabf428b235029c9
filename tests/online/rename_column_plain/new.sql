INSERT INTO courses (id, name, instructor_id, grade, category) SELECT 90002, 'New algebra', min(id), 8, 'maths' FROM users;
UPDATE courses SET name = 'Old algebra, revised' WHERE id = 90001;
SELECT count(*) FROM courses WHERE name LIKE '%algebra%';
