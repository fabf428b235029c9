-- Health of every table (regular, partition, partitioned parent, materialized view) in the
-- user schemas: activity counters, when it was last vacuumed and analyzed, and how close
-- its transaction IDs are to wraparound. A partitioned parent has no rows and no counters
-- of its own: its leaf_* columns sum up its leaf partitions.
WITH settings AS (
    SELECT current_setting('autovacuum_freeze_max_age')::bigint AS freeze_max_age,
           current_setting('autovacuum_multixact_freeze_max_age')::bigint AS mxid_freeze_max_age
), leaves AS (
    SELECT p.oid AS root, count(*) AS leaf_count,
           coalesce(sum(ls.n_live_tup), 0) AS leaf_rows,
           max(greatest(ls.last_analyze, ls.last_autoanalyze)) AS leaf_last_analyzed
      FROM pg_class p
      CROSS JOIN LATERAL pg_partition_tree(p.oid) t
      LEFT JOIN pg_stat_user_tables ls ON ls.relid = t.relid
     WHERE p.relkind = 'p' AND t.isleaf
     GROUP BY p.oid
)
SELECT c.oid,
       n.nspname AS schema,
       c.relname AS name,
       c.relkind,
       c.relispartition AS is_partition,
       ARRAY(SELECT a.relid::oid FROM pg_partition_ancestors(c.oid) a
              WHERE a.relid <> c.oid) AS ancestors,
       coalesce(s.n_live_tup, 0) AS n_live_tup,
       coalesce(s.n_dead_tup, 0) AS n_dead_tup,
       coalesce(s.n_mod_since_analyze, 0) AS n_mod_since_analyze,
       greatest(s.last_vacuum, s.last_autovacuum) AS last_vacuumed,
       greatest(s.last_analyze, s.last_autoanalyze) AS last_analyzed,
       c.reltuples,
       CASE WHEN c.relkind = 'p' THEN NULL
            ELSE greatest(age(c.relfrozenxid), age(toast.relfrozenxid)) END AS xid_age,
       CASE WHEN c.relkind = 'p' THEN NULL
            ELSE greatest(mxid_age(c.relminmxid), mxid_age(toast.relminmxid)) END AS mxid_age,
       least(st.freeze_max_age,
             (SELECT o.option_value::bigint FROM pg_options_to_table(c.reloptions) o
               WHERE o.option_name = 'autovacuum_freeze_max_age')) AS freeze_max_age,
       least(st.mxid_freeze_max_age,
             (SELECT o.option_value::bigint FROM pg_options_to_table(c.reloptions) o
               WHERE o.option_name = 'autovacuum_multixact_freeze_max_age'))
           AS mxid_freeze_max_age,
       lv.leaf_count,
       lv.leaf_rows,
       lv.leaf_last_analyzed,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT coalesce(sum(pg_total_relation_size(t.relid)), 0)
                    FROM pg_partition_tree(c.oid) t)
            ELSE pg_total_relation_size(c.oid) END AS size_bytes
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  CROSS JOIN settings st
  LEFT JOIN pg_class toast ON toast.oid = c.reltoastrelid
  LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
  LEFT JOIN leaves lv ON lv.root = c.oid
 WHERE c.relkind IN ('r', 'p', 'm')
   AND c.relpersistence <> 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname !~ '^pg_toast'
 ORDER BY n.nspname, c.relname
