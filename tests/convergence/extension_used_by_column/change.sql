CREATE EXTENSION citext;
ALTER TABLE course_modules ALTER COLUMN module_type TYPE citext;
