ALTER TABLE assessment_submissions
    ALTER CONSTRAINT assessment_submissions_assessment_id_fkey DEFERRABLE INITIALLY DEFERRED;
