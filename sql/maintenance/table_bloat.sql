-- Estimated heap bloat of every table with data: the pages its live rows would fill
-- (average column widths and NULL fractions from pg_stats, the tuple header with its NULL
-- bitmap, MAXALIGN padding, the line pointer, the fillfactor) against the pages it has.
-- No scan, only the catalog: a cheap first pass, confirmed with pgstattuple on request.
-- expected_pages is NULL when some column has no statistics (the table was never
-- analyzed): there is then nothing to estimate from.
WITH constants AS (
    SELECT current_setting('block_size')::numeric AS block_size,
           24 AS page_header,   -- PageHeaderData
           23 AS tuple_header,  -- HeapTupleHeaderData, before its NULL bitmap
           8 AS max_align,
           4 AS line_pointer    -- ItemIdData
), tables AS (
    SELECT c.oid, n.nspname, c.relname, c.reltuples, c.relpages,
           coalesce((SELECT o.option_value::int FROM pg_options_to_table(c.reloptions) o
                      WHERE o.option_name = 'fillfactor'), 100) AS fillfactor
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'm')
       AND c.relpersistence <> 't'
       AND c.relpages > 0 AND c.reltuples >= 0
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname !~ '^pg_toast'
), widths AS (
    SELECT t.oid,
           count(*) AS columns,
           count(s.attname) AS columns_with_stats,
           sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 0)) AS data_width,
           bool_or(coalesce(s.null_frac, 0) > 0) AS has_nulls
      FROM tables t
      JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_stats s ON s.schemaname = t.nspname AND s.tablename = t.relname
                          AND s.attname = a.attname AND NOT s.inherited
     GROUP BY t.oid
), tuples AS (
    SELECT t.*, w.columns = w.columns_with_stats AS has_stats, k.block_size, k.page_header,
           ceil((k.tuple_header + CASE WHEN w.has_nulls THEN ceil(w.columns / 8.0) ELSE 0 END)
                / k.max_align) * k.max_align
           + ceil(w.data_width / k.max_align) * k.max_align
           + k.line_pointer AS tuple_bytes
      FROM tables t
      JOIN widths w USING (oid)
      CROSS JOIN constants k
), estimates AS (
    SELECT oid, nspname, relname, fillfactor, relpages, block_size,
           CASE WHEN has_stats THEN
               ceil(reltuples / greatest(floor((block_size - page_header) * fillfactor / 100
                                               / tuple_bytes), 1))
           END AS expected_pages
      FROM tuples
)
SELECT oid,
       nspname AS schema,
       relname AS name,
       fillfactor,
       (relpages * block_size)::bigint AS size_bytes,
       expected_pages::bigint,
       CASE WHEN expected_pages IS NOT NULL
            THEN (greatest(relpages - expected_pages, 0) * block_size)::bigint END AS bloat_bytes,
       CASE WHEN expected_pages IS NOT NULL
            THEN greatest(relpages - expected_pages, 0)::float8 / relpages END AS bloat_ratio
  FROM estimates
 ORDER BY 1
