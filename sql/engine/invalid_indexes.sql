-- INVALID indexes and whether a concurrent build is running on their table right now
-- (a build in progress is also INVALID: it is not broken).
SELECT n.nspname AS schema, i.relname AS index, t.relname AS table,
       EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                WHERE p.relid = t.oid OR p.index_relid = i.oid) AS build_in_progress
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class t ON t.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = i.relnamespace
 WHERE NOT x.indisvalid
   AND i.relkind = 'i'  -- a partitioned parent's index is invalid until all are attached
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
 ORDER BY 1, 2
