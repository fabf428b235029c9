-- What maintenance ran last on each table (by a person, `maintain run` or autovacuum), the
-- tables with the most dead tuples first. Partitions are listed as themselves.
SELECT schemaname || '.' || relname AS "table", n_live_tup AS live, n_dead_tup AS dead,
       greatest(last_vacuum, last_autovacuum) AS last_vacuum,
       greatest(last_analyze, last_autoanalyze) AS last_analyze,
       CASE WHEN coalesce(last_vacuum, '-infinity') >= coalesce(last_autovacuum, '-infinity')
            THEN 'manual' ELSE 'autovacuum' END AS vacuumed_by
FROM pg_stat_user_tables
WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
ORDER BY n_dead_tup DESC, relname
LIMIT 15
