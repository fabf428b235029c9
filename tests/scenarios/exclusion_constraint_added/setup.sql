CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE course_modules ADD CONSTRAINT modules_no_overlap EXCLUDE USING gist (course_id WITH =, sequence_order WITH =);
