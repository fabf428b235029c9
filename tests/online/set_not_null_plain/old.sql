INSERT INTO courses (id, title, instructor_id, grade, category, methodology) SELECT 90001, 'Old', min(id), 7, 'maths', NULL FROM users;
