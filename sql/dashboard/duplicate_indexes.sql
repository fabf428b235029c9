-- Indexes whose columns are a leading prefix of another index's on the same table, with
-- the same predicate and expressions: the longer one serves their reads. Unique and
-- constraint indexes are never reported as the redundant one.
SELECT a.indexrelid::regclass::text AS index, b.indexrelid::regclass::text AS covered_by,
       a.indrelid::regclass::text AS "table", pg_relation_size(a.indexrelid) AS bytes
FROM pg_index AS a
JOIN pg_index AS b ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid
JOIN pg_class AS ac ON ac.oid = a.indexrelid
JOIN pg_class AS bc ON bc.oid = b.indexrelid
JOIN pg_namespace AS n ON n.oid = ac.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND ac.relam = bc.relam
  AND NOT a.indisunique AND NOT a.indisprimary
  AND (b.indkey::text || ' ') LIKE (a.indkey::text || ' %')
  AND (b.indclass::text || ' ') LIKE (a.indclass::text || ' %')
  AND a.indnkeyatts <= b.indnkeyatts
  AND coalesce(pg_get_expr(a.indpred, a.indrelid), '') = coalesce(pg_get_expr(b.indpred, b.indrelid), '')
  AND coalesce(pg_get_expr(a.indexprs, a.indrelid), '') = coalesce(pg_get_expr(b.indexprs, b.indrelid), '')
  AND (a.indnkeyatts < b.indnkeyatts OR a.indexrelid > b.indexrelid)
ORDER BY 3, 1
LIMIT 15
