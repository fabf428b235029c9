ALTER TABLE course_modules ALTER COLUMN content_url TYPE text;
