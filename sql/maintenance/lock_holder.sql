-- Who holds a session-level advisory lock (classid, objid) in this database.
SELECT a.pid, coalesce(nullif(a.application_name, ''), '?') AS application,
       a.client_addr::text AS client, date_trunc('second', now() - a.backend_start) AS connected
  FROM pg_locks l
  JOIN pg_stat_activity a USING (pid)
 WHERE l.locktype = 'advisory' AND l.granted
   AND l.classid = %(classid)s::oid AND l.objid = %(objid)s::oid AND l.objsubid = 2
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.pid <> pg_backend_pid()
