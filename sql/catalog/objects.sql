-- Every user-visible schema object of the current database as (kind, name, definition),
-- one row each, in a stable order. The migration engine's own tables are left out: they
-- are its internals, not the application's schema.
WITH rels AS (
    SELECT c.oid, n.nspname, c.relname, c.relkind
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
       AND n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'
       -- the engine's tables and their indexes: yoyo's (_yoyo_migration, _yoyo_log,
       -- _yoyo_version, yoyo_lock) and watoto_migration_history
       AND c.relname NOT LIKE '\_yoyo\_%' AND c.relname NOT LIKE 'yoyo\_lock%'
       AND c.relname NOT LIKE 'watoto\_migration\_history%'
)
SELECT 'table' AS kind, nspname || '.' || relname AS name,
       concat_ws(' ', r.relkind,
                 CASE WHEN r.relkind = 'p' THEN pg_get_partkeydef(r.oid) END,
                 (SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE c.oid = r.oid),
                 (SELECT 'PARTITION OF ' || i.inhparent::regclass::text
                    FROM pg_inherits i WHERE i.inhrelid = r.oid)) AS definition
  FROM rels r WHERE r.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
UNION ALL
SELECT 'column', r.nspname || '.' || r.relname || '.' || a.attname,
       concat_ws(' ', format_type(a.atttypid, a.atttypmod),
                 CASE WHEN a.attnotnull THEN 'NOT NULL' END,
                 'DEFAULT ' || pg_get_expr(d.adbin, d.adrelid),
                 CASE WHEN a.attidentity <> '' THEN 'IDENTITY ' || a.attidentity::text END,
                 CASE WHEN a.attgenerated <> '' THEN 'GENERATED' END,
                 'COLLATE ' || nullif(co.collname, 'default'),
                 '#' || a.attnum)
  FROM rels r
  JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 0
 WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f')
UNION ALL
SELECT 'constraint', r.nspname || '.' || r.relname || '.' || con.conname,
       pg_get_constraintdef(con.oid) || CASE WHEN con.convalidated THEN '' ELSE ' NOT VALID' END
  FROM rels r JOIN pg_constraint con ON con.conrelid = r.oid
UNION ALL
SELECT 'index', r.nspname || '.' || r.relname,
       pg_get_indexdef(r.oid) || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END
  FROM rels r JOIN pg_index i ON i.indexrelid = r.oid
 WHERE r.relkind IN ('i', 'I')
UNION ALL
SELECT 'view', r.nspname || '.' || r.relname, pg_get_viewdef(r.oid)
  FROM rels r WHERE r.relkind IN ('v', 'm')
UNION ALL
SELECT 'trigger', r.nspname || '.' || r.relname || '.' || t.tgname, pg_get_triggerdef(t.oid)
  FROM rels r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
UNION ALL
SELECT 'function', n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       pg_get_functiondef(p.oid)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND NOT EXISTS (SELECT 1 FROM pg_depend dep
                    WHERE dep.objid = p.oid AND dep.deptype = 'e')
UNION ALL
SELECT 'sequence', r.nspname || '.' || r.relname,
       concat_ws(' ', format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
                 s.seqcache, s.seqcycle,
                 (SELECT 'OWNED BY ' || dr.relname || '.' || da.attname
                    FROM pg_depend dep
                    JOIN pg_class dr ON dr.oid = dep.refobjid
                    JOIN pg_attribute da ON da.attrelid = dep.refobjid AND da.attnum = dep.refobjsubid
                   WHERE dep.objid = r.oid AND dep.classid = 'pg_class'::regclass
                     AND dep.deptype IN ('a', 'i')))
  FROM rels r JOIN pg_sequence s ON s.seqrelid = r.oid
UNION ALL
SELECT 'extension', e.extname, e.extversion FROM pg_extension e WHERE e.extname <> 'plpgsql'
ORDER BY 1, 2, 3
