-- Load one relation's main fork: into shared buffers ('buffer') or into the operating
-- system's cache only ('read'). Returns the blocks read. The braces name the extension's
-- schema, quoted by psycopg.
SELECT {}.pg_prewarm(%(relation)s::oid::regclass, %(mode)s);
