ALTER TABLE assessment_submissions
    DROP CONSTRAINT assessment_submissions_graded_by_fkey;
ALTER TABLE assessment_submissions ADD CONSTRAINT assessment_submissions_graded_by_fkey
    FOREIGN KEY (graded_by) REFERENCES users (id) NOT VALID;
