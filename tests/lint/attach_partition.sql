-- ATTACH PARTITION scans a table without a CHECK implying its bounds (and the DEFAULT partition).
-- expect: attach-partition-scan 4:1

ALTER TABLE enrollments ATTACH PARTITION enrollments_archive FOR VALUES FROM ('2020-01-01') TO ('2024-01-01');
