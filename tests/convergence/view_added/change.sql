CREATE VIEW active_courses AS
SELECT id, title FROM courses WHERE is_active;
