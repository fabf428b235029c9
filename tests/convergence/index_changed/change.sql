DROP INDEX idx_submissions_status;
CREATE INDEX idx_submissions_status ON assessment_submissions (status, submitted_at);
