-- The tables of the public schema a drill counts rows of: partitioned parents count their
-- partitions' rows, so partitions themselves are left out.
SELECT c.relname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname;
