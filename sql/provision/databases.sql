-- The databases testdb manages: each carries a JSON label in its comment.
SELECT d.datname AS name,
       d.datistemplate AS is_template,
       d.datallowconn AS allow_connections,
       shobj_description(d.oid, 'pg_database') AS label,
       pg_database_size(d.oid) AS bytes
FROM pg_database d
WHERE shobj_description(d.oid, 'pg_database') LIKE '{"kind": "watoto-%'
ORDER BY d.datname
