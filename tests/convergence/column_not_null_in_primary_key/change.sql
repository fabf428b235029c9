ALTER TABLE assessment_submissions
    DROP CONSTRAINT assessment_submissions_pkey;
ALTER TABLE assessment_submissions ALTER COLUMN id DROP NOT NULL;
