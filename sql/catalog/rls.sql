-- Row-level security as (kind, object, name, definition): a table's flags (ENABLE and
-- FORCE ROW LEVEL SECURITY; a row only when either is on) and its policies, written the
-- way CREATE POLICY takes them after the name and table (roles sorted, PUBLIC for none).
-- Same tables as objects.sql: no system schemas, no engine tables, nothing an extension owns.
WITH rels AS (
    SELECT c.oid, c.relrowsecurity, c.relforcerowsecurity, c.relkind,
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
SELECT 'row level security' AS kind, r.qname AS object, r.qname AS name,
       concat_ws(' ', CASE WHEN r.relrowsecurity THEN 'ENABLED' END,
                 CASE WHEN r.relforcerowsecurity THEN 'FORCED' END) AS definition
  FROM rels r
 WHERE r.relrowsecurity OR r.relforcerowsecurity
UNION ALL
SELECT 'policy', r.qname, r.qname || '.' || quote_ident(p.polname),
       concat_ws(' ',
                 'AS ' || CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
                 'FOR ' || CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT'
                                         WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE'
                                         ELSE 'ALL' END,
                 'TO ' || coalesce((SELECT string_agg(CASE WHEN ro.oid = 0 THEN 'PUBLIC'
                                                           ELSE quote_ident(au.rolname) END,
                                                      ', ' ORDER BY ro.oid = 0 DESC, au.rolname)
                                      FROM unnest(p.polroles) AS ro(oid)
                                      LEFT JOIN pg_authid au ON au.oid = ro.oid), 'PUBLIC'),
                 'USING (' || pg_get_expr(p.polqual, p.polrelid) || ')',
                 'WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')')
  FROM rels r JOIN pg_policy p ON p.polrelid = r.oid
ORDER BY 1, 2, 3, 4
