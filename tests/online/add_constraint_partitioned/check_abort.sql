SELECT progress_percentage = 120 FROM enrollments WHERE id = 90001;
SELECT NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'enrollments_progress_max');
