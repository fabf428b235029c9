ALTER TABLE assessments ALTER COLUMN total_points TYPE numeric(6,1);
