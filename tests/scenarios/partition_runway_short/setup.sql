-- the newest premade partition gone: a short runway is an operational warning of
-- `partitions list`, not schema drift (a database `migrate` just built is in sync)
ALTER TABLE enrollments DETACH PARTITION enrollments_2028;
DROP TABLE enrollments_2028;
