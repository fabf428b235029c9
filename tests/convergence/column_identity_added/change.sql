ALTER TABLE assessments
    ALTER COLUMN time_limit_minutes SET NOT NULL,
    ALTER COLUMN time_limit_minutes ADD GENERATED ALWAYS AS IDENTITY;
