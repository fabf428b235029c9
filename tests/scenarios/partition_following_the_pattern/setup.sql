-- what `partitions ensure` makes is not drift
CREATE TABLE enrollments_2028 PARTITION OF enrollments FOR VALUES FROM ('2028-01-01') TO ('2029-01-01');
