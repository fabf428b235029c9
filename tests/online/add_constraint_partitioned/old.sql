INSERT INTO enrollments (id, student_id, course_id, enrolled_at, progress_percentage) SELECT 90001, (SELECT min(id) FROM users WHERE role = 'student'), max(id), '2026-05-01', 120 FROM courses;
