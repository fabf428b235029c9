CREATE EXTENSION btree_gist;
ALTER TABLE course_modules ADD CONSTRAINT course_modules_order_excl
    EXCLUDE USING gist (course_id WITH =, sequence_order WITH =);
