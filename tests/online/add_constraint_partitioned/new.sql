INSERT INTO enrollments (id, student_id, course_id, enrolled_at, progress_percentage) SELECT 90002, (SELECT max(id) FROM users WHERE role = 'student'), max(id), '2025-05-01', 55.5 FROM courses;
