INSERT INTO enrollments (id, student_id, course_id, enrolled_at, notes) SELECT 90001, (SELECT min(id) FROM users WHERE role = 'student'), max(id), '2026-05-01', 'old note' FROM courses;
