SELECT attnotnull FROM pg_attribute WHERE attrelid = 'course_modules'::regclass AND attname = 'sequence_order';
SELECT sequence_order = 0 FROM course_modules WHERE id = 90002;
