DROP INDEX idx_modules_type;
CREATE INDEX idx_modules_type ON course_modules (module_type, course_id);
