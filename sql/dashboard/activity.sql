-- Client sessions of this database now, longest-running first (the dashboard's "sessions").
-- The statement text of another role is hidden by the caller unless --show-queries.
SELECT pid, usename AS "user", coalesce(nullif(application_name, ''), '?') AS application,
       state, wait_event_type, wait_event,
       round(extract(epoch FROM now() - xact_start)::numeric, 1) AS xact_seconds,
       round(extract(epoch FROM now() - query_start)::numeric, 1) AS query_seconds,
       left(regexp_replace(query, '\s+', ' ', 'g'), 200) AS query
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND datname = current_database()
ORDER BY state = 'idle', query_start NULLS LAST
LIMIT 20
