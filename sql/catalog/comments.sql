-- Comments (COMMENT ON), only with `drift --comments`, as (kind, object, name,
-- definition): name is the commented object as pg_identify_object names it ("<type>
-- <identity>", e.g. "table column public.courses.title", "function public.f(integer)",
-- "table constraint c on public.t"), object the thing it belongs to (the table of a
-- column), definition the comment's text. Comments on extensions and what they own, on
-- the system schemas' objects and on the engine's tables are left out; so are shared
-- objects' comments (databases, roles, tablespaces: the cluster's, not the schema's) and
-- built-in objects' (access methods, ...), but for the public schema.
SELECT 'comment' AS kind, o.parent AS object, o.type || ' ' || o.identity AS name,
       d.description AS definition
  FROM pg_description d
 CROSS JOIN LATERAL (
       SELECT i.type, i.identity, i.schema,
              coalesce((SELECT (pg_identify_object(
                                    CASE WHEN con.conrelid <> 0 THEN 'pg_class'::regclass
                                         ELSE 'pg_type'::regclass END,
                                    CASE WHEN con.conrelid <> 0 THEN con.conrelid
                                         ELSE con.contypid END, 0)).identity
                          FROM pg_constraint con
                         WHERE d.classoid = 'pg_constraint'::regclass AND con.oid = d.objoid),
                       (SELECT (pg_identify_object('pg_class'::regclass, p.polrelid, 0)).identity
                          FROM pg_policy p
                         WHERE d.classoid = 'pg_policy'::regclass AND p.oid = d.objoid),
                       (SELECT (pg_identify_object('pg_class'::regclass, t.tgrelid, 0)).identity
                          FROM pg_trigger t
                         WHERE d.classoid = 'pg_trigger'::regclass AND t.oid = d.objoid),
                       (SELECT (pg_identify_object('pg_class'::regclass, r.ev_class, 0)).identity
                          FROM pg_rewrite r
                         WHERE d.classoid = 'pg_rewrite'::regclass AND r.oid = d.objoid),
                       (pg_identify_object(d.classoid, d.objoid, 0)).identity) AS parent
         FROM pg_identify_object(d.classoid, d.objoid, d.objsubid) i) o
  LEFT JOIN pg_class c ON d.classoid = 'pg_class'::regclass AND c.oid = d.objoid
 WHERE d.classoid NOT IN ('pg_extension'::regclass, 'pg_language'::regclass)
   -- built-in objects (access methods, ...), but the public schema's comment counts
   AND (d.objoid >= 16384 OR d.classoid = 'pg_namespace'::regclass)
   AND coalesce(o.schema, '') NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
   AND coalesce(o.schema, '') NOT LIKE 'pg_temp_%'
   AND coalesce(o.schema, '') NOT LIKE 'pg_toast_temp_%'
   AND NOT (d.classoid = 'pg_namespace'::regclass
            AND o.identity IN ('pg_catalog', 'information_schema', 'pg_toast'))
   AND NOT coalesce(c.relname LIKE '\_yoyo\_%' OR c.relname LIKE 'yoyo\_lock%'
                    OR c.relname LIKE 'watoto\_migration\_history%'
                    OR c.relname LIKE 'watoto\_online\_%', false)
   AND NOT EXISTS (SELECT 1 FROM pg_depend dep
                    WHERE dep.classid = d.classoid AND dep.objid = d.objoid
                      AND dep.deptype = 'e')
ORDER BY 1, 2, 3, 4
