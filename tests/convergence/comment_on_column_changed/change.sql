COMMENT ON COLUMN courses.grade IS 'Grade 7, 8 or 9';
