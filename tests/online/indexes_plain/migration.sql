CREATE INDEX idx_courses_duration ON courses (duration);
DROP INDEX idx_courses_category;
