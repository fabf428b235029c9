-- The latency guard's probe (maintain run --pause-above): a small indexed read through the
-- executor and shared buffers, as an application's lookup by key is. Timed from a separate
-- connection every 100 ms; when the server is short of CPU or I/O because of maintenance,
-- this slows down with the application's statements.
SELECT relname FROM pg_catalog.pg_class WHERE oid = 'pg_catalog.pg_class'::regclass
