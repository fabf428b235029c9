-- SET TABLESPACE copies the table under ACCESS EXCLUSIVE.
-- expect: rewrite-table 4:1

ALTER TABLE assessment_submissions SET TABLESPACE archive_disk;
