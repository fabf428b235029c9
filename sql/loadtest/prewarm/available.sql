-- Whether pg_prewarm is installed in this database (its schema, to call it), and whether
-- the server ships it at all (PostgreSQL's contrib); shared buffers and the block size.
SELECT (SELECT n.nspname
          FROM pg_extension e
          JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'pg_prewarm') AS installed_in,
       EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_prewarm') AS available,
       (SELECT setting::bigint FROM pg_settings WHERE name = 'shared_buffers') AS shared_buffers,
       current_setting('block_size')::int AS block_size;
