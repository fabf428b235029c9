ALTER TABLE module_progress DROP CONSTRAINT module_progress_pkey;
CREATE UNIQUE INDEX module_progress_pkey ON module_progress (id);
