ALTER TABLE assessments ALTER COLUMN total_points TYPE bigint;
