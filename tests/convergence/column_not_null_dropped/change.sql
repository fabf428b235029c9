ALTER TABLE assessments ALTER COLUMN total_points DROP NOT NULL;
