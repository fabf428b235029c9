-- Estimated bloat of every valid B-tree index on a table with data (the well-known
-- estimate popularised by ioguix): the leaf pages its entries would fill (index tuple
-- header, NULL bitmap, average key widths from pg_stats, MAXALIGN padding, the line
-- pointer, the index fillfactor, the page header and B-tree special space, plus the meta
-- page and the upper levels) against the pages it has. Catalog only, no scan. B-tree deduplication (13+) makes
-- low-cardinality indexes smaller than estimated: the estimate errs towards no bloat.
-- Keys of expression indexes take their statistics from the index's own pg_stats rows.
WITH constants AS (
    SELECT current_setting('block_size')::numeric AS block_size,
           24 AS page_header,   -- PageHeaderData
           16 AS btree_special, -- BTPageOpaqueData
           8 AS tuple_header,   -- IndexTupleData
           4 AS null_bitmap,    -- IndexAttributeBitMapData, present when a key can be NULL
           8 AS max_align,
           4 AS line_pointer    -- ItemIdData
), indexes AS (
    SELECT i.oid, n.nspname, i.relname AS index_name, t.oid AS table_oid,
           t.relname AS table_name, x.indkey, i.reltuples, i.relpages,
           coalesce((SELECT o.option_value::int FROM pg_options_to_table(i.reloptions) o
                      WHERE o.option_name = 'fillfactor'), 90) AS fillfactor
      FROM pg_index x
      JOIN pg_class i ON i.oid = x.indexrelid
      JOIN pg_class t ON t.oid = x.indrelid
      JOIN pg_namespace n ON n.oid = i.relnamespace
      JOIN pg_am am ON am.oid = i.relam
     WHERE am.amname = 'btree' AND x.indisvalid AND i.relkind = 'i'
       AND t.relkind IN ('r', 'm') AND t.relpersistence <> 't'
       AND i.relpages > 0 AND i.reltuples >= 0
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname !~ '^pg_toast'
), keys AS (
    SELECT ix.oid, s.attname AS has_stats, s.null_frac, s.avg_width
      FROM indexes ix
      JOIN pg_attribute a ON a.attrelid = ix.oid AND a.attnum > 0
      LEFT JOIN pg_attribute ta ON ta.attrelid = ix.table_oid
                               AND ta.attnum = ix.indkey[a.attnum - 1]
                               AND ix.indkey[a.attnum - 1] <> 0
      LEFT JOIN pg_stats s ON s.schemaname = ix.nspname AND NOT s.inherited
                          AND ((ta.attname IS NOT NULL AND s.tablename = ix.table_name
                                AND s.attname = ta.attname)
                            OR (ta.attname IS NULL AND s.tablename = ix.index_name
                                AND s.attname = a.attname))
), widths AS (
    SELECT oid,
           bool_and(has_stats IS NOT NULL) AS has_stats,
           bool_or(coalesce(null_frac, 0) > 0) AS has_nulls,
           sum((1 - coalesce(null_frac, 0)) * coalesce(avg_width, 0)) AS data_width
      FROM keys
     GROUP BY oid
), per_page AS (
    SELECT ix.*, w.has_stats, k.block_size,
           greatest(floor(
               (k.block_size - k.page_header - k.btree_special) * ix.fillfactor / 100
               / (ceil((k.tuple_header + CASE WHEN w.has_nulls THEN k.null_bitmap ELSE 0 END)
                       / k.max_align) * k.max_align
                  + ceil(w.data_width / k.max_align) * k.max_align
                  + k.line_pointer)), 1) AS tuples_per_page
      FROM indexes ix
      JOIN widths w USING (oid)
      CROSS JOIN constants k
), leaves AS (
    SELECT p.*, ceil(p.reltuples / p.tuples_per_page) AS leaf_pages
      FROM per_page p
), estimates AS (
    -- the meta page, the leaves, and (once there is more than one leaf) the levels above
    SELECT l.*, 1 + l.leaf_pages + CASE WHEN l.leaf_pages > 1
                                        THEN ceil(l.leaf_pages / l.tuples_per_page) ELSE 0 END
               AS expected_pages
      FROM leaves l
)
SELECT oid,
       nspname AS schema,
       index_name AS name,
       table_oid,
       table_name AS table,
       fillfactor,
       (relpages * block_size)::bigint AS size_bytes,
       CASE WHEN has_stats THEN expected_pages::bigint END AS expected_pages,
       CASE WHEN has_stats
            THEN (greatest(relpages - expected_pages, 0) * block_size)::bigint END AS bloat_bytes,
       CASE WHEN has_stats
            THEN greatest(relpages - expected_pages, 0)::float8 / relpages END AS bloat_ratio
  FROM estimates
 ORDER BY 1
