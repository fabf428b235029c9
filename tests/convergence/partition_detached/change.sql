ALTER TABLE enrollments DETACH PARTITION enrollments_2024;
