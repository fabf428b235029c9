ALTER TABLE assessments
    DROP CONSTRAINT assessments_module_id_fkey,
    ADD CONSTRAINT assessments_module_id_fkey
        FOREIGN KEY (module_id) REFERENCES course_modules (id) ON DELETE SET NULL;
