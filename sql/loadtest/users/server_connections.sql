-- The server's connection slots (#21): max_connections, those reserved for superusers, and
-- the client sessions open now (this one included). `local start --pgbouncer` sizes its
-- pool from the first two; `loadtest --users` on a direct connection refuses more users
-- than the rest leaves free.
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS reserved,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int
           AS in_use;
