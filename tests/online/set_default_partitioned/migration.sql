ALTER TABLE enrollments ALTER COLUMN status SET DEFAULT 'in_progress';
