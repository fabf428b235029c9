-- User-defined types and collations as (kind, object, name, definition), in the shape of
-- objects.sql: enums (their labels in order, so a reorder is a difference), domains (base
-- type, collation, default, NOT NULL) and each domain constraint, composite types (their
-- attributes in order), range types, and collations. Extension-owned objects and the
-- system schemas are left out; so are the row types of tables and the array types
-- PostgreSQL makes for every type.
WITH types AS (
    SELECT t.oid, t.typtype, t.typbasetype, t.typtypmod, t.typcollation, t.typnotnull,
           t.typdefaultbin, t.typrelid,
           quote_ident(n.nspname) || '.' || quote_ident(t.typname) AS qname
      FROM pg_type t
      JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
       AND n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'
       AND t.typtype IN ('e', 'd', 'c', 'r')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
                          AND d.deptype = 'e')
)
SELECT 'enum' AS kind, t.qname AS object, t.qname AS name,
       'ENUM (' || coalesce((SELECT string_agg('''' || replace(e.enumlabel, '''', '''''')
                                               || '''', ', ' ORDER BY e.enumsortorder)
                               FROM pg_enum e WHERE e.enumtypid = t.oid), '') || ')'
           AS definition
  FROM types t WHERE t.typtype = 'e'
UNION ALL
SELECT 'domain', t.qname, t.qname,
       concat_ws(' ', 'AS ' || format_type(t.typbasetype, t.typtypmod),
                 (SELECT 'COLLATE ' || quote_ident(cn.nspname) || '.' || quote_ident(co.collname)
                    FROM pg_collation co
                    JOIN pg_namespace cn ON cn.oid = co.collnamespace
                    JOIN pg_type b ON b.oid = t.typbasetype
                   WHERE co.oid = t.typcollation AND t.typcollation <> b.typcollation),
                 'DEFAULT ' || pg_get_expr(t.typdefaultbin, 0),
                 CASE WHEN t.typnotnull THEN 'NOT NULL' END)
  FROM types t WHERE t.typtype = 'd'
UNION ALL
-- a domain's NOT NULL is on its row (a constraint row of its own from PostgreSQL 17 on)
-- (pg_get_constraintdef says NOT VALID itself)
SELECT 'domain constraint', t.qname, t.qname || '.' || quote_ident(con.conname),
       pg_get_constraintdef(con.oid)
  FROM types t JOIN pg_constraint con ON con.contypid = t.oid
 WHERE t.typtype = 'd' AND con.contype <> 'n'
UNION ALL
SELECT 'composite type', t.qname, t.qname,
       'AS (' || coalesce((
           SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
                             || coalesce((SELECT ' COLLATE ' || quote_ident(cn.nspname) || '.'
                                                 || quote_ident(co.collname)
                                            FROM pg_collation co
                                            JOIN pg_namespace cn ON cn.oid = co.collnamespace
                                            JOIN pg_type at ON at.oid = a.atttypid
                                           WHERE co.oid = a.attcollation
                                             AND a.attcollation <> at.typcollation), ''),
                             ', ' ORDER BY a.attnum)
             FROM pg_attribute a
            WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '') || ')'
  FROM types t
  JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
 WHERE t.typtype = 'c'
UNION ALL
SELECT 'range type', t.qname, t.qname,
       'AS RANGE (' || concat_ws(', ', 'SUBTYPE = ' || format_type(r.rngsubtype, NULL),
                                 (SELECT 'SUBTYPE_OPCLASS = ' || quote_ident(on_.nspname) || '.'
                                         || quote_ident(oc.opcname)
                                    FROM pg_opclass oc
                                    JOIN pg_namespace on_ ON on_.oid = oc.opcnamespace
                                   WHERE oc.oid = r.rngsubopc AND NOT oc.opcdefault),
                                 (SELECT 'COLLATION = ' || quote_ident(cn.nspname) || '.'
                                         || quote_ident(co.collname)
                                    FROM pg_collation co
                                    JOIN pg_namespace cn ON cn.oid = co.collnamespace
                                    JOIN pg_type st ON st.oid = r.rngsubtype
                                   WHERE co.oid = r.rngcollation
                                     AND r.rngcollation <> st.typcollation),
                                 'CANONICAL = ' || nullif(r.rngcanonical, 0)::regproc::text,
                                 'SUBTYPE_DIFF = ' || nullif(r.rngsubdiff, 0)::regproc::text,
                                 'MULTIRANGE_TYPE_NAME = ' || format_type(r.rngmultitypid, NULL))
       || ')'
  FROM types t JOIN pg_range r ON r.rngtypid = t.oid
 WHERE t.typtype = 'r'
UNION ALL
-- the provider's locale: colliculocale in PostgreSQL 15 and 16, colllocale from 17 on
SELECT 'collation', q.qname, q.qname,
       concat_ws(', ',
                 'provider = ' || CASE q.collprovider WHEN 'i' THEN 'icu' WHEN 'c' THEN 'libc'
                                                      ELSE 'default' END,
                 CASE WHEN q.collprovider = 'i'
                      THEN 'locale = ''' || replace(q.icu_locale, '''', '''''') || '''' END,
                 CASE WHEN q.collprovider <> 'i'
                      THEN 'lc_collate = ''' || replace(q.collcollate, '''', '''''') || '''' END,
                 CASE WHEN q.collprovider <> 'i'
                      THEN 'lc_ctype = ''' || replace(q.collctype, '''', '''''') || '''' END,
                 'deterministic = ' || q.collisdeterministic::text)
  FROM (SELECT quote_ident(n.nspname) || '.' || quote_ident(co.collname) AS qname,
               co.collprovider, co.collcollate, co.collctype, co.collisdeterministic,
               coalesce(to_jsonb(co) ->> 'colliculocale', to_jsonb(co) ->> 'colllocale')
                   AS icu_locale
          FROM pg_collation co
          JOIN pg_namespace n ON n.oid = co.collnamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
           AND n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_collation'::regclass AND d.objid = co.oid
                              AND d.deptype = 'e')) q
ORDER BY 1, 2, 3, 4
