-- The tables with the worst heap and index hit ratios (enough reads to judge).
SELECT schemaname || '.' || relname AS relation,
       heap_blks_hit, heap_blks_read, idx_blks_hit, idx_blks_read
FROM pg_statio_user_tables
WHERE heap_blks_hit + heap_blks_read >= %(min_reads)s
   OR coalesce(idx_blks_hit, 0) + coalesce(idx_blks_read, 0) >= %(min_reads)s
