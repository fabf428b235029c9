-- pg_stat_statements (PostgreSQL 13+ column names): the slowest statements, ranked by mean
-- (%(rank)s = 'mean') or by total execution time.
SELECT queryid, calls, mean_exec_time, total_exec_time,
       left(regexp_replace(query, '\s+', ' ', 'g'), 120) AS query
FROM pg_stat_statements
WHERE calls > 0
ORDER BY CASE WHEN %(rank)s = 'mean' THEN mean_exec_time ELSE total_exec_time END DESC
LIMIT %(limit)s
