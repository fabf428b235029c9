-- What each of the given backends is doing, from the progress views, as one row per
-- backend: the command, its phase, and blocks (or tuples, partitions, lockers) done of total.
SELECT pid, 'VACUUM' AS command, phase,
       CASE WHEN phase = 'vacuuming heap' THEN heap_blks_vacuumed
            ELSE heap_blks_scanned END AS done,
       heap_blks_total AS total
  FROM pg_stat_progress_vacuum
 WHERE pid = ANY (%(pids)s)
UNION ALL
SELECT pid, 'ANALYZE', phase,
       CASE WHEN child_tables_total > 0 THEN child_tables_done ELSE sample_blks_scanned END,
       CASE WHEN child_tables_total > 0 THEN child_tables_total ELSE sample_blks_total END
  FROM pg_stat_progress_analyze
 WHERE pid = ANY (%(pids)s)
UNION ALL
SELECT pid, command, phase,
       CASE WHEN blocks_total > 0 THEN blocks_done
            WHEN tuples_total > 0 THEN tuples_done
            ELSE lockers_done END,
       CASE WHEN blocks_total > 0 THEN blocks_total
            WHEN tuples_total > 0 THEN tuples_total
            ELSE lockers_total END
  FROM pg_stat_progress_create_index
 WHERE pid = ANY (%(pids)s)
UNION ALL
SELECT pid, command, phase, heap_blks_scanned, heap_blks_total
  FROM pg_stat_progress_cluster  -- VACUUM FULL
 WHERE pid = ANY (%(pids)s)
