INSERT INTO courses (id, title, instructor_id, grade, category, duration) SELECT 90001, 'Old', min(id), 7, 'maths', '6 weeks' FROM users;
