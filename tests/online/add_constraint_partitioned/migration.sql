-- online: up least(progress_percentage, 100)
ALTER TABLE enrollments ADD CONSTRAINT enrollments_progress_max CHECK (progress_percentage <= 100);
