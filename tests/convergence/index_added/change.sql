CREATE INDEX idx_assessments_title ON assessments (title);
