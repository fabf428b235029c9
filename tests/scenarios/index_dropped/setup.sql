DROP INDEX idx_courses_category;
