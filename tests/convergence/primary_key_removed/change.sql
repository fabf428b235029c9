ALTER TABLE module_progress DROP CONSTRAINT module_progress_pkey;
