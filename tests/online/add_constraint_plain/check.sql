SELECT duration_minutes = 1 FROM course_modules WHERE id = 90001;
SELECT duration_minutes = 15 FROM course_modules WHERE id = 90002;
SELECT convalidated FROM pg_constraint WHERE conname = 'course_modules_duration_positive';
