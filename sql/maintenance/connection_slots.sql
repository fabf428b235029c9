-- Connection slots: how many client connections the server allows to ordinary roles and
-- how many are in use right now (every database counts). Parallel maintenance workers are
-- capped by the difference, minus some slack for the application.
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS reserved,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int
           AS in_use
