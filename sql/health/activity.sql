-- Client sessions of this database: how long their transaction and statement have run,
-- what they wait on. (Connections are counted server-wide: the slots are shared.)
SELECT pid, coalesce(nullif(application_name, ''), '?') AS application, usename AS "user",
       state, wait_event_type,
       extract(epoch FROM now() - xact_start) AS xact_seconds,
       extract(epoch FROM now() - query_start) AS query_seconds,
       extract(epoch FROM now() - state_change) AS state_seconds,
       left(regexp_replace(query, '\s+', ' ', 'g'), 120) AS query
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND datname = current_database()
