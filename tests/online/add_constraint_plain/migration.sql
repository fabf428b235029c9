-- online: up CASE WHEN duration_minutes <= 0 THEN 1 ELSE duration_minutes END
ALTER TABLE course_modules ADD CONSTRAINT course_modules_duration_positive CHECK (duration_minutes > 0);
