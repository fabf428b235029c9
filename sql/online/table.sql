-- Everything the online planner needs to know about one table, as one JSON document:
-- its kind, columns, primary key, leaf partitions, indexes, constraints, triggers and what
-- depends on its columns. %(table)s is a regclass text.
WITH t AS (
    SELECT c.oid, c.relname, n.nspname, c.relkind
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = to_regclass(%(table)s) AND c.relkind IN ('r', 'p')
)
SELECT jsonb_build_object(
    'schema', t.nspname, 'name', t.relname, 'partitioned', t.relkind = 'p',
    'columns', (
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                   'not_null', a.attnotnull,
                   'default', pg_get_expr(d.adbin, d.adrelid),
                   'generated', a.attgenerated <> '', 'identity', a.attidentity <> '')
                   ORDER BY a.attnum), '[]')
          FROM pg_attribute a
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped),
    'primary_key', (
        SELECT jsonb_agg(a.attname ORDER BY k.ord)
          FROM pg_constraint con
          CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
         WHERE con.conrelid = t.oid AND con.contype = 'p'),
    'partition_key', (
        SELECT coalesce(jsonb_agg(a.attname), '[]')
          FROM pg_partitioned_table pt
          CROSS JOIN LATERAL unnest(pt.partattrs::int2[]) AS k(attnum)
          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
         WHERE pt.partrelid = t.oid),
    'leaves', (
        SELECT coalesce(jsonb_agg(quote_ident(ln.nspname) || '.' || quote_ident(lc.relname)
                                  ORDER BY lc.relname), '[]')
          FROM pg_partition_tree(t.oid) p
          JOIN pg_class lc ON lc.oid = p.relid
          JOIN pg_namespace ln ON ln.oid = lc.relnamespace
         WHERE p.isleaf AND lc.relkind = 'r'),
    'indexes', (
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'name', ic.relname, 'definition', pg_get_indexdef(x.indexrelid),
                   'constraint', EXISTS (SELECT 1 FROM pg_constraint k
                                          WHERE k.conindid = x.indexrelid
                                            AND k.conrelid = t.oid),
                   'columns', (SELECT coalesce(jsonb_agg(DISTINCT a.attname), '[]')
                                 FROM pg_depend dep
                                 JOIN pg_attribute a ON a.attrelid = t.oid
                                                    AND a.attnum = dep.refobjsubid
                                WHERE dep.classid = 'pg_class'::regclass
                                  AND dep.objid = x.indexrelid
                                  AND dep.refobjid = t.oid AND dep.refobjsubid > 0),
                   'children', (SELECT coalesce(jsonb_object_agg(
                                    quote_ident(cn.nspname) || '.' || quote_ident(pc.relname),
                                    ci.relname), '{}')
                                  FROM pg_partition_tree(x.indexrelid) pi
                                  JOIN pg_class ci ON ci.oid = pi.relid
                                  JOIN pg_index cx ON cx.indexrelid = ci.oid
                                  JOIN pg_class pc ON pc.oid = cx.indrelid
                                  JOIN pg_namespace cn ON cn.oid = pc.relnamespace
                                 WHERE pi.isleaf)) ORDER BY ic.relname), '[]')
          FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
         WHERE x.indrelid = t.oid),
    'constraints', (
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'name', con.conname, 'type', con.contype,
                   'definition', pg_get_constraintdef(con.oid),
                   'columns', (SELECT coalesce(jsonb_agg(a.attname), '[]')
                                 FROM pg_attribute a
                                WHERE a.attrelid = t.oid
                                  AND a.attnum = ANY (coalesce(con.conkey, '{}'))))
                   ORDER BY con.conname), '[]')
          FROM pg_constraint con WHERE con.conrelid = t.oid),
    'referenced_by', (
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'name', con.conname, 'table', con.conrelid::regclass::text,
                   'columns', (SELECT coalesce(jsonb_agg(a.attname), '[]')
                                 FROM pg_attribute a
                                WHERE a.attrelid = t.oid AND a.attnum = ANY (con.confkey)))),
                   '[]')
          FROM pg_constraint con
         WHERE con.confrelid = t.oid AND con.contype = 'f' AND con.conparentid = 0),
    'triggers', (
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'name', tg.tgname, 'function', tg.tgfoid::regproc::text,
                   'source', p.prosrc,
                   'update_of', (SELECT coalesce(jsonb_agg(a.attname), '[]')
                                   FROM pg_attribute a
                                  WHERE a.attrelid = t.oid
                                    AND a.attnum = ANY (tg.tgattr::int2[])))), '[]')
          FROM pg_trigger tg JOIN pg_proc p ON p.oid = tg.tgfoid
         WHERE tg.tgrelid = t.oid AND NOT tg.tgisinternal),
    'column_dependents', (
        SELECT coalesce(jsonb_agg(DISTINCT jsonb_build_object(
                   'column', a.attname,
                   'object', CASE WHEN dep.classid = 'pg_rewrite'::regclass
                                  THEN 'view ' || r.ev_class::regclass::text
                                  ELSE pg_describe_object(dep.classid, dep.objid, dep.objsubid)
                             END)), '[]')
          FROM pg_depend dep
          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = dep.refobjsubid
          LEFT JOIN pg_rewrite r ON dep.classid = 'pg_rewrite'::regclass AND r.oid = dep.objid
         WHERE dep.refclassid = 'pg_class'::regclass AND dep.refobjid = t.oid
           AND dep.refobjsubid > 0 AND dep.deptype = 'n'
           AND (dep.classid = 'pg_rewrite'::regclass AND r.ev_class <> t.oid
                OR dep.classid = 'pg_class'::regclass AND dep.objid <> t.oid
                   AND NOT EXISTS (SELECT 1 FROM pg_index x WHERE x.indexrelid = dep.objid)
                -- a generated column computed from this one
                OR dep.classid = 'pg_class'::regclass AND dep.objid = t.oid
                   AND dep.objsubid > 0 AND dep.objsubid <> dep.refobjsubid)),
    'functions_naming_it', (
        SELECT coalesce(jsonb_agg(p.oid::regprocedure::text), '[]')
          FROM pg_proc p JOIN pg_namespace pn ON pn.oid = p.pronamespace
         WHERE pn.nspname NOT IN ('pg_catalog', 'information_schema')
           AND p.prosrc ~* ('\m' || regexp_replace(t.relname, '([^a-zA-Z0-9_])', '\\\1', 'g')
                            || '\M')),
    'grants', (
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'grantee', CASE WHEN g.grantee = 0 THEN 'PUBLIC'
                                   ELSE quote_ident(pg_get_userbyid(g.grantee)) END,
                   'privilege', g.privilege_type)), '[]')
          FROM pg_class c, aclexplode(c.relacl) g
         WHERE c.oid = t.oid AND g.grantee <> c.relowner),
    'rows_estimate', (SELECT coalesce(sum(greatest(lc.reltuples, 0)), 0)::bigint
                        FROM pg_partition_tree(t.oid) p JOIN pg_class lc ON lc.oid = p.relid
                       WHERE p.isleaf)
) FROM t
