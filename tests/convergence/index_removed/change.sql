DROP INDEX idx_submissions_status;
