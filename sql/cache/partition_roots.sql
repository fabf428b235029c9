-- Each table partition and the partitioned table at the top of its tree: a change of
-- users_0 is a change of users.
SELECT c.relname AS partition, root.relname AS root
FROM pg_class c
JOIN pg_class root ON root.oid = pg_partition_root(c.oid)
WHERE c.relispartition AND c.relkind IN ('r', 'p', 'f');
