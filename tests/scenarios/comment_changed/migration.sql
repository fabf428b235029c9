COMMENT ON TABLE courses IS 'What a teacher offers';
COMMENT ON COLUMN courses.title IS 'Shown in the catalogue';
