-- transactional: false
-- ON ONLY the parent builds nothing; each partition concurrently; then ATTACH.
-- expect: clean

CREATE INDEX idx_enrollments_completed ON ONLY enrollments (completed_at);
CREATE INDEX CONCURRENTLY idx_enrollments_2024_completed ON enrollments_2024 (completed_at);
ALTER INDEX idx_enrollments_completed ATTACH PARTITION idx_enrollments_2024_completed;
