-- a period missing between two partitions is drift (its rows would land in DEFAULT)
CREATE TABLE enrollments_2029 PARTITION OF enrollments
    FOR VALUES FROM ('2029-01-01') TO ('2030-01-01');
ALTER TABLE enrollments DETACH PARTITION enrollments_2028;
DROP TABLE enrollments_2028;
