ALTER TABLE module_progress ALTER COLUMN attempts DROP DEFAULT;
