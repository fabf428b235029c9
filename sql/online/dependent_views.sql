-- The views that read the given columns of a table, directly or through other views, in
-- the order to create them again (a view after the views it reads), with what re-creating
-- one needs: its definition, options and table-level grants. %(table)s is a regclass text,
-- %(columns)s the column names; the online engine's own version schemas are left out.
WITH RECURSIVE reading (view, depth) AS (
    SELECT DISTINCT r.ev_class, 1
      FROM pg_depend d
      JOIN pg_rewrite r ON r.oid = d.objid
      JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
     WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
       AND d.refobjid = to_regclass(%(table)s) AND a.attname = ANY (%(columns)s)
       AND r.ev_class <> d.refobjid
    UNION
    SELECT r.ev_class, reading.depth + 1
      FROM reading
      JOIN pg_depend d ON d.refobjid = reading.view AND d.classid = 'pg_rewrite'::regclass
                      AND d.refclassid = 'pg_class'::regclass
      JOIN pg_rewrite r ON r.oid = d.objid
     WHERE r.ev_class <> reading.view AND reading.depth < 50
)
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name, c.relkind,
       max(reading.depth) AS depth, pg_get_viewdef(c.oid) AS definition,
       coalesce(array_to_string(c.reloptions, ', '), '') AS options,
       coalesce((SELECT array_agg(g.privilege_type || ' TO ' ||
                                  CASE WHEN g.grantee = 0 THEN 'PUBLIC'
                                       ELSE quote_ident(pg_get_userbyid(g.grantee)) END)
                   FROM aclexplode(c.relacl) g WHERE g.grantee <> c.relowner), '{}') AS grants
  FROM reading
  JOIN pg_class c ON c.oid = reading.view
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT LIKE 'watoto\_%%'
 GROUP BY n.nspname, c.relname, c.oid, c.relkind
 ORDER BY max(reading.depth), 1
