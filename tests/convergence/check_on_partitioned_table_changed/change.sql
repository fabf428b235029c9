ALTER TABLE enrollments
    DROP CONSTRAINT enrollments_status_check,
    ADD CONSTRAINT enrollments_status_check
        CHECK (status IN ('enrolled', 'in_progress', 'completed', 'dropped', 'paused'));
