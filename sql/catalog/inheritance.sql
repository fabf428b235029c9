-- Table inheritance (INHERITS) as (kind, object, name, definition): one row per child
-- table that is not a partition, its parents in INHERITS order. (Partitions are the
-- "partition" rows of objects.sql; whether a child's column is inherited, local or both is
-- on its column row there.) Same tables as objects.sql.
WITH rels AS (
    SELECT c.oid, c.relispartition,
           quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS qname
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
       AND n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'
       AND c.relkind IN ('r', 'p', 'f')
       AND c.relname NOT LIKE '\_yoyo\_%' AND c.relname NOT LIKE 'yoyo\_lock%'
       AND c.relname NOT LIKE 'watoto\_migration\_history%'
       AND c.relname NOT LIKE 'watoto\_online\_%'
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                          AND d.deptype = 'e')
)
SELECT 'inherits' AS kind, r.qname AS object, r.qname AS name,
       string_agg(quote_ident(pn.nspname) || '.' || quote_ident(p.relname), ', '
                  ORDER BY i.inhseqno) AS definition
  FROM rels r
  JOIN pg_inherits i ON i.inhrelid = r.oid
  JOIN pg_class p ON p.oid = i.inhparent
  JOIN pg_namespace pn ON pn.oid = p.relnamespace
 WHERE NOT r.relispartition
 GROUP BY r.qname
ORDER BY 1, 2, 3, 4
