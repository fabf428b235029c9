-- Which views and materialized views depend on what (through their rewrite rules), and
-- which functions on what types (arguments, result), as (referenced, dependent, dependent
-- kind): the referenced object is a relation (table, view, sequence) by qualified name, a
-- column as relation.column, a function by its identity signature, or a type by its
-- qualified name (an array type as its element's). The fix script drops dependents before
-- changing what they read and creates them again after.
SELECT DISTINCT
       CASE dep.refclassid
         WHEN 'pg_class'::regclass THEN
           quote_ident(rn.nspname) || '.' || quote_ident(rc.relname)
           || CASE WHEN dep.refobjsubid > 0
                   THEN '.' || quote_ident(ra.attname) ELSE '' END
         WHEN 'pg_proc'::regclass THEN
           quote_ident(pn.nspname) || '.' || quote_ident(p.proname)
           || '(' || pg_get_function_identity_arguments(p.oid) || ')'
         WHEN 'pg_type'::regclass THEN
           quote_ident(tn.nspname) || '.' || quote_ident(t.typname)
       END AS referenced,
       quote_ident(vn.nspname) || '.' || quote_ident(v.relname) AS dependent,
       CASE v.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END AS kind
  FROM pg_rewrite rw
  JOIN pg_class v ON v.oid = rw.ev_class AND v.relkind IN ('v', 'm')
  JOIN pg_namespace vn ON vn.oid = v.relnamespace
  JOIN pg_depend dep ON dep.classid = 'pg_rewrite'::regclass AND dep.objid = rw.oid
                    AND dep.deptype = 'n'
  LEFT JOIN pg_class rc ON dep.refclassid = 'pg_class'::regclass AND rc.oid = dep.refobjid
  LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
  LEFT JOIN pg_attribute ra ON ra.attrelid = rc.oid AND ra.attnum = dep.refobjsubid
  LEFT JOIN pg_proc p ON dep.refclassid = 'pg_proc'::regclass AND p.oid = dep.refobjid
  LEFT JOIN pg_namespace pn ON pn.oid = p.pronamespace
  LEFT JOIN pg_type t ON dep.refclassid = 'pg_type'::regclass AND t.oid = dep.refobjid
  LEFT JOIN pg_namespace tn ON tn.oid = t.typnamespace
 WHERE dep.refobjid <> rw.ev_class
   AND vn.nspname NOT IN ('pg_catalog', 'information_schema')
   AND (rc.oid IS NOT NULL OR p.oid IS NOT NULL OR t.oid IS NOT NULL)
   AND coalesce(rn.nspname, pn.nspname, tn.nspname) NOT IN ('pg_catalog',
                                                          'information_schema')
UNION
SELECT DISTINCT
       quote_ident(tn.nspname) || '.' || quote_ident(t.typname),
       quote_ident(pn.nspname) || '.' || quote_ident(p.proname)
           || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       'function'
  FROM pg_depend dep
  JOIN pg_proc p ON dep.classid = 'pg_proc'::regclass AND p.oid = dep.objid
  JOIN pg_namespace pn ON pn.oid = p.pronamespace
  JOIN pg_type at ON dep.refclassid = 'pg_type'::regclass AND at.oid = dep.refobjid
  JOIN pg_type t ON t.oid = CASE WHEN at.typcategory = 'A' THEN at.typelem ELSE at.oid END
  JOIN pg_namespace tn ON tn.oid = t.typnamespace
 WHERE dep.deptype = 'n'
   AND tn.nspname NOT IN ('pg_catalog', 'information_schema')
   AND pn.nspname NOT IN ('pg_catalog', 'information_schema')
   AND NOT EXISTS (SELECT 1 FROM pg_depend e
                    WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid
                      AND e.deptype = 'e')
 ORDER BY 1, 2
