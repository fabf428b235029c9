INSERT INTO courses (id, title, instructor_id, grade, category) SELECT 90001, 'Old', min(id), 7, 'maths' FROM users;
