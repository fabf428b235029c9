-- Each view (or materialized view) and a relation its rewrite rule reads: the tables behind
-- a view, so a change of the view invalidates what is cached from those tables.
SELECT DISTINCT v.relname AS view, t.relname AS relation
FROM pg_depend d
JOIN pg_rewrite r ON r.oid = d.objid
JOIN pg_class v ON v.oid = r.ev_class
JOIN pg_class t ON t.oid = d.refobjid
WHERE d.classid = 'pg_rewrite'::regclass
  AND d.refclassid = 'pg_class'::regclass
  AND v.relkind IN ('v', 'm')
  AND t.oid <> v.oid
  AND v.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace);
