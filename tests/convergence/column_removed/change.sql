ALTER TABLE assessments DROP COLUMN time_limit_minutes;
