-- The statements of this database that took the most execution time since the reset at the
-- start of the step. The braces name the extension's schema, quoted by psycopg.
SELECT left(regexp_replace(s.query, '\s+', ' ', 'g'), 200) AS query,
       s.calls,
       round(s.total_exec_time::numeric, 1) AS total_ms,
       round(s.mean_exec_time::numeric, 3) AS mean_ms,
       s.shared_blks_read AS blocks_read
FROM {}.pg_stat_statements s
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND position('pg_stat_statements' IN s.query) = 0
  AND position('pg_stat_activity' IN s.query) = 0
ORDER BY s.total_exec_time DESC
LIMIT %(limit)s;
