SELECT to_regclass('idx_courses_duration') IS NULL AND to_regclass('idx_courses_category') IS NOT NULL;
