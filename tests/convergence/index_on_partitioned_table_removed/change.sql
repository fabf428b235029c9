DROP INDEX idx_enrollments_status;
