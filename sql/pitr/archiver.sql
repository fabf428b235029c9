-- The archiver's counters (pg_stat_archiver has one row).
SELECT archived_count, last_archived_wal, last_archived_time,
       failed_count, last_failed_wal, last_failed_time,
       now() - last_archived_time AS archived_age
FROM pg_stat_archiver;
