-- WAL archiving: settings, failures, and whether a segment is waiting to be archived.
SELECT current_setting('archive_mode') AS archive_mode,
       current_setting('archive_command') AS archive_command,
       current_setting('archive_library') AS archive_library,
       a.archived_count, a.last_archived_wal,
       extract(epoch FROM now() - a.last_archived_time) AS last_archived_seconds,
       a.failed_count, a.last_failed_wal,
       extract(epoch FROM now() - a.last_failed_time) AS last_failed_seconds,
       a.last_failed_time > coalesce(a.last_archived_time, '-infinity') AS failing,
       CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE pg_walfile_name(pg_current_wal_lsn()) END AS current_wal
FROM pg_stat_archiver a
