SELECT duration_minutes = 0 FROM course_modules WHERE id = 90001;
SELECT NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'course_modules_duration_positive');
