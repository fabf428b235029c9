ALTER TABLE assessment_submissions
    DROP CONSTRAINT assessment_submissions_status_check;
ALTER TABLE assessment_submissions
    ADD CONSTRAINT assessment_submissions_status_check CHECK (status IN ('submitted', 'graded', 'returned')) NOT VALID;
