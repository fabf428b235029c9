SELECT grade = 'A' FROM enrollments WHERE id = 90001;
SELECT grade IS NULL FROM enrollments WHERE id = 90002;
