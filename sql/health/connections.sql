-- Sessions by state against the slots non-superusers can use.
SELECT coalesce(state, 'background') AS state, count(*) AS sessions
FROM pg_stat_activity
WHERE backend_type = 'client backend' OR state IS NOT NULL
GROUP BY 1
