COMMENT ON TABLE courses IS 'What a teacher offers (edited by hand)';
COMMENT ON COLUMN courses.title IS NULL;
COMMENT ON COLUMN courses.category IS 'It''s free text';
COMMENT ON INDEX idx_courses_grade IS 'by grade';
COMMENT ON CONSTRAINT courses_pkey ON courses IS 'key';
COMMENT ON TRIGGER courses_set_updated_at ON courses IS 'stamps';
