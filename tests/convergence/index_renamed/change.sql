ALTER INDEX idx_submissions_status RENAME TO idx_submission_status;
