-- What the sessions of this database are doing right now, sampled while a load step runs:
-- active client sessions by wait event (no wait event: on CPU, or waiting for nothing
-- PostgreSQL records). The sampler's own session is left out.
SELECT coalesce(wait_event_type, 'CPU') AS wait_event_type,
       coalesce(wait_event, 'running') AS wait_event,
       count(*) AS sessions
FROM pg_stat_activity
WHERE backend_type = 'client backend'
  AND state = 'active'
  AND datname = current_database()
  AND pid <> pg_backend_pid()
GROUP BY 1, 2;
