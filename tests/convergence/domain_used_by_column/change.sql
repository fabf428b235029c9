ALTER TABLE module_progress ALTER COLUMN score TYPE percentage;
