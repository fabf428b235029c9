-- A pool's ready clones, oldest first (no sizes: this is on `testdb take`'s path).
SELECT d.datname AS name, shobj_description(d.oid, 'pg_database') AS label
FROM pg_database d
WHERE shobj_description(d.oid, 'pg_database') LIKE '{"kind": "watoto-clone"%%'
  AND shobj_description(d.oid, 'pg_database')::jsonb ->> 'pool' = %(pool)s
  AND shobj_description(d.oid, 'pg_database')::jsonb ->> 'state' = 'ready'
ORDER BY shobj_description(d.oid, 'pg_database')::jsonb ->> 'created_at', d.datname
