-- Every index on a table (or partition) in the user schemas, with where it sits in a
-- partition tree: the ancestors of its table and of itself (partitioned indexes), whether
-- it is valid, whether a concurrent build is running on its table now, and its size.
-- Indexes of exclusion constraints are marked: REINDEX CONCURRENTLY cannot rebuild them.
SELECT i.oid,
       n.nspname AS schema,
       i.relname AS name,
       t.oid AS table_oid,
       tn.nspname AS table_schema,
       t.relname AS table,
       x.indisvalid AS valid,
       ARRAY(SELECT a.relid::oid FROM pg_partition_ancestors(t.oid) a
              WHERE a.relid <> t.oid) AS table_ancestors,
       ARRAY(SELECT a.relid::oid FROM pg_partition_ancestors(i.oid) a
              WHERE a.relid <> i.oid) AS index_ancestors,
       EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid AND c.contype = 'x')
           AS exclusion,
       EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                WHERE p.relid = t.oid OR p.index_relid = i.oid) AS build_in_progress,
       pg_get_indexdef(i.oid) AS definition,
       pg_relation_size(i.oid) AS size_bytes
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class t ON t.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = i.relnamespace
  JOIN pg_namespace tn ON tn.oid = t.relnamespace
 WHERE i.relkind = 'i'
   AND t.relkind IN ('r', 'm')
   AND t.relpersistence <> 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname !~ '^pg_toast'
 ORDER BY n.nspname, t.relname, i.relname
