-- pg_stat_statements (PostgreSQL 13+ column names): the slowest by mean and by total time.
SELECT queryid, calls, mean_exec_time, total_exec_time,
       left(regexp_replace(query, '\s+', ' ', 'g'), 120) AS query
FROM pg_stat_statements
WHERE calls > 0
ORDER BY mean_exec_time DESC
LIMIT %(limit)s
