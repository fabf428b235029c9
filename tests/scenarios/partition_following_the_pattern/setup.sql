-- what `partitions ensure` makes (one declared period, the declared name) is not drift
CREATE TABLE enrollments_2031 PARTITION OF enrollments FOR VALUES FROM ('2031-01-01') TO ('2032-01-01');
