-- TRUNCATE loses every row, under ACCESS EXCLUSIVE.
-- expect: truncate 4:1

TRUNCATE module_progress;
