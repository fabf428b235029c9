-- transactional: false
-- The safe rewrite: a validated CHECK matching the bounds first.
-- expect: clean

ALTER TABLE enrollments_archive ADD CONSTRAINT enrollments_archive_bounds
    CHECK (enrolled_at IS NOT NULL AND enrolled_at >= '2020-01-01' AND enrolled_at < '2024-01-01') NOT VALID;
ALTER TABLE enrollments_archive VALIDATE CONSTRAINT enrollments_archive_bounds;
ALTER TABLE enrollments ATTACH PARTITION enrollments_archive FOR VALUES FROM ('2020-01-01') TO ('2024-01-01');
