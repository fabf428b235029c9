ALTER TABLE assessments ADD CONSTRAINT assessments_title_excl
    EXCLUDE USING btree (course_id WITH =, title WITH =);
