ALTER TABLE assessments ADD CONSTRAINT assessments_module_course_fkey
    FOREIGN KEY (module_id) REFERENCES course_modules (id) ON DELETE SET NULL;
