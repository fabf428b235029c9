-- Indexes of the given tables that no constraint owns, on the tables themselves (not the
-- partitions' copies a partitioned parent's index makes), in creation order.
SELECT i.indrelid::regclass::text AS table_name,
       i.indexrelid::regclass::text AS name,
       i.indexrelid::oid::bigint AS position,
       replace(pg_get_indexdef(i.indexrelid), ' ON ONLY ', ' ON ') AS definition
  FROM pg_index i
 WHERE i.indrelid = ANY (%(tables)s::regclass[])
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                    WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid
                      AND c.contype IN ('p', 'u', 'x'))
 ORDER BY i.indexrelid
