COMMENT ON COLUMN courses.grade IS 'School grade, 7 to 9';
