ALTER TABLE assessments ALTER COLUMN is_graded SET DEFAULT false;
