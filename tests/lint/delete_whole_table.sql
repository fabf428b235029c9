-- One DELETE of every row.
-- expect: unbatched-backfill 4:1

DELETE FROM assessment_submissions;
