ALTER TABLE courses ALTER COLUMN duration TYPE text;
