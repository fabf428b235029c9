-- Partitioned tables and each partition: bounds, estimated rows, size. A partitioned
-- table without partitions yet appears once, with NULL partition columns.
SELECT quote_ident(pn.nspname) || '.' || quote_ident(p.relname) AS parent,
       p.oid AS parent_oid,
       pg_get_partkeydef(p.oid) AS partition_key,
       quote_ident(cn.nspname) || '.' || quote_ident(c.relname) AS partition,
       c.relname AS partition_name,
       pg_get_expr(c.relpartbound, c.oid) AS bound,
       greatest(c.reltuples, 0)::bigint AS estimated_rows,
       coalesce(pg_total_relation_size(c.oid), 0) AS bytes,
       coalesce(i.inhdetachpending, false) AS detach_pending
  FROM pg_class p
  JOIN pg_namespace pn ON pn.oid = p.relnamespace
  LEFT JOIN pg_inherits i ON i.inhparent = p.oid
  LEFT JOIN pg_class c ON c.oid = i.inhrelid
  LEFT JOIN pg_namespace cn ON cn.oid = c.relnamespace
 WHERE p.relkind = 'p'
   AND pn.nspname NOT IN ('pg_catalog', 'information_schema')
 ORDER BY 1, 4
