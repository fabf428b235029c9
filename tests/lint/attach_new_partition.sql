-- A table created in the same migration is empty: attaching it scans nothing.
-- expect: clean

CREATE TABLE enrollments_2040 (LIKE enrollments INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE enrollments ATTACH PARTITION enrollments_2040 FOR VALUES FROM ('2040-01-01') TO ('2041-01-01');
