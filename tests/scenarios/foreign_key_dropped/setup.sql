ALTER TABLE assessments DROP CONSTRAINT assessments_module_id_fkey;
