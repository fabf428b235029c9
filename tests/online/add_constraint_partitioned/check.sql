SELECT progress_percentage = 100 FROM enrollments WHERE id = 90001;
SELECT progress_percentage = 55.5 FROM enrollments WHERE id = 90002;
SELECT bool_and(convalidated) FROM pg_constraint WHERE conname = 'enrollments_progress_max';
SELECT count(*) = 1 + (SELECT count(*) FROM pg_partition_tree('enrollments') WHERE isleaf) AND bool_and(indisvalid) FROM pg_partition_tree('idx_enrollments_progress') p JOIN pg_index x ON x.indexrelid = p.relid;
SELECT to_regclass('enrollments_2026_progress_percentage_idx') IS NOT NULL;
