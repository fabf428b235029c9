DROP TABLE enrollment_keys;
DROP TABLE enrollments;
DROP FUNCTION watoto_enrollments_sync_keys();
