ALTER TABLE assessments ADD COLUMN weight numeric(4,2);
