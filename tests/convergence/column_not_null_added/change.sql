ALTER TABLE assessments ALTER COLUMN passing_score SET NOT NULL;
