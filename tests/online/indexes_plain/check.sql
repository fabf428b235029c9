SELECT to_regclass('idx_courses_duration') IS NOT NULL AND to_regclass('idx_courses_category') IS NULL;
SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_courses_duration'::regclass;
