-- Bytes on disk of the named table (with its indexes and TOAST; a partitioned table: all
-- its partitions) or index (a partitioned index: all its partitions); no row when the
-- relation does not exist (any more).
SELECT CASE c.relkind
           WHEN 'p' THEN (SELECT sum(pg_total_relation_size(t.relid))
                            FROM pg_partition_tree(c.oid) t)
           WHEN 'I' THEN (SELECT sum(pg_relation_size(t.relid)) FROM pg_partition_tree(c.oid) t)
           WHEN 'i' THEN pg_relation_size(c.oid)
           ELSE pg_total_relation_size(c.oid)
       END::bigint AS size_bytes
  FROM pg_class c
 WHERE c.oid = to_regclass(%(name)s)
