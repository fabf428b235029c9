-- loadtest --users (#21) on a direct connection: the server's max_connections and the
-- sessions it can still take (superuser_reserved_connections kept free, this one counted).
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('max_connections')::int
       - current_setting('superuser_reserved_connections')::int
       - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int
       + 1 AS free;
