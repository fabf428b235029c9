SELECT NOT attnotnull FROM pg_attribute WHERE attrelid = 'course_modules'::regclass AND attname = 'sequence_order';
SELECT sequence_order = 3 FROM course_modules WHERE id = 90001;
SELECT sequence_order IS NULL FROM course_modules WHERE id = 90002;
