-- The statements that took the most time in this database (pg_stat_statements), with the
-- role that ran them: the caller hides other roles' text unless --show-queries.
SELECT s.queryid::text AS queryid, r.rolname AS "user", s.calls,
       round(s.total_exec_time::numeric, 1) AS total_ms,
       round(s.mean_exec_time::numeric, 3) AS mean_ms,
       round((s.total_exec_time / nullif(sum(s.total_exec_time) OVER (), 0) * 100)::numeric, 1)
         AS share,
       s.rows,
       -- the text without its leading comment lines, whitespace collapsed
       left(regexp_replace(regexp_replace(s.query, '^(\s*--[^\n]*\n)+', ''), '\s+', ' ', 'g'),
            240) AS query
FROM pg_stat_statements AS s
LEFT JOIN pg_roles AS r ON r.oid = s.userid
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY s.total_exec_time DESC
LIMIT 10
