-- Primary keys, unique and foreign-key constraints of the given tables, and foreign keys
-- from anywhere that point at them; declared ones only (not the partitions' copies).
-- Keys come first, foreign keys last, each group in creation order (the order to re-add);
-- a foreign key names the table it references.
SELECT c.conrelid::regclass::text AS table_name,
       c.conname AS name,
       c.contype::text AS kind,
       coalesce(c.conindid, 0)::oid::bigint AS position,
       pg_get_constraintdef(c.oid) AS definition,
       CASE WHEN c.contype = 'f' THEN c.confrelid::regclass::text END AS referenced
  FROM pg_constraint c
 WHERE c.conparentid = 0
   AND ((c.contype IN ('p', 'u') AND c.conrelid = ANY (%(tables)s::regclass[]))
        OR (c.contype = 'f' AND (c.conrelid = ANY (%(tables)s::regclass[])
                                 OR c.confrelid = ANY (%(tables)s::regclass[]))))
 ORDER BY c.contype = 'f', c.oid
