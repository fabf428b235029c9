ALTER TABLE course_modules ALTER COLUMN is_required DROP DEFAULT;
