INSERT INTO enrollments (id, student_id, course_id, enrolled_at) SELECT 90002, (SELECT max(id) FROM users WHERE role = 'student'), max(id), '2026-05-01' FROM courses;
