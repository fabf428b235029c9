INSERT INTO enrollments (id, student_id, course_id, enrolled_at, remarks) SELECT 90002, (SELECT max(id) FROM users WHERE role = 'student'), max(id), '2025-05-01', 'new note' FROM courses;
UPDATE enrollments SET remarks = 'old note, seen' WHERE id = 90001;
