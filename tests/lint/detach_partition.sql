-- A plain DETACH locks the whole partitioned table.
-- expect: detach-partition 4:1

ALTER TABLE enrollments DETACH PARTITION enrollments_2024;
