-- users is partitioned: the fix cannot use NOT VALID
ALTER TABLE users DROP CONSTRAINT users_grade_check;
