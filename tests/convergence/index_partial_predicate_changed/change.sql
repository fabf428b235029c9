DROP INDEX idx_courses_listing;
CREATE INDEX idx_courses_listing ON courses (grade, category, title)
    WHERE is_active AND max_students > 0;
