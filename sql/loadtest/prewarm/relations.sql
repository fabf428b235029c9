-- Every table, index, TOAST table and materialized view of the database's own objects (not
-- the system catalogs) that has storage, smallest first, with its main fork in blocks.
-- Partitioned parents have no storage of their own: their partitions are listed instead.
SELECT c.oid::regclass::text AS name,
       c.oid,
       pg_relation_size(c.oid) / current_setting('block_size')::bigint AS blocks
FROM pg_class c
WHERE c.oid >= 16384
  AND c.relkind IN ('r', 'i', 't', 'm')
  AND c.relpersistence <> 't'
ORDER BY blocks, c.oid;
