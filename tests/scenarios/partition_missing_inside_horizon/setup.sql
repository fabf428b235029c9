-- the policy's premake horizon (current year + 2) must be covered: a gap is drift
ALTER TABLE enrollments DETACH PARTITION enrollments_2028;
DROP TABLE enrollments_2028;
