-- Indexes never scanned since the statistics were reset, that enforce nothing (not a
-- primary key, unique or exclusion constraint's): candidates to drop, largest first.
SELECT s.schemaname || '.' || s.indexrelname AS index, s.schemaname || '.' || s.relname AS "table",
       pg_relation_size(s.indexrelid) AS bytes
FROM pg_stat_user_indexes AS s
JOIN pg_index AS i ON i.indexrelid = s.indexrelid
WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = s.indexrelid)
ORDER BY pg_relation_size(s.indexrelid) DESC, 1
LIMIT 15
