-- Of the tables named in %(tables)s (quoted names), those never analyzed, by hand or by
-- autovacuum (which never analyzes a partitioned parent).
SELECT t.name
  FROM unnest(%(tables)s::text[]) AS t(name)
  JOIN pg_stat_user_tables s ON s.relid = to_regclass(t.name)
 WHERE s.last_analyze IS NULL AND s.last_autoanalyze IS NULL
