-- Ownership and grants (drift --privileges), as (kind, object, name, definition).
WITH rels AS (
    SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS qname, c.relowner,
           c.relacl
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
       AND n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'
       AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
       AND c.relname NOT LIKE '\_yoyo\_%' AND c.relname NOT LIKE 'yoyo\_lock%'
       AND c.relname NOT LIKE 'watoto\_migration\_history%'
)
SELECT 'owner' AS kind, qname AS object, qname AS name,
       pg_get_userbyid(relowner) AS definition
  FROM rels
UNION ALL
SELECT 'grants', qname, qname,
       coalesce(array_to_string(ARRAY(SELECT unnest(relacl)::text ORDER BY 1), ','), '(default)')
  FROM rels
UNION ALL
SELECT 'owner', quote_ident(n.nspname) || '.' || quote_ident(p.proname),
       quote_ident(n.nspname) || '.' || quote_ident(p.proname)
           || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       pg_get_userbyid(p.proowner)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'grants', quote_ident(n.nspname), quote_ident(n.nspname),
       pg_get_userbyid(n.nspowner) || ' ' ||
       coalesce(array_to_string(ARRAY(SELECT unnest(n.nspacl)::text ORDER BY 1), ','), '(default)')
  FROM pg_namespace n
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
   AND n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'
ORDER BY 1, 2, 3
