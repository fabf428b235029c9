SELECT to_regclass('idx_users_last_name') IS NOT NULL AND to_regclass('idx_users_role') IS NULL;
SELECT bool_and(indisvalid) AND count(*) = 5 FROM pg_index WHERE indexrelid IN (SELECT relid FROM pg_partition_tree('idx_users_last_name'));
