SELECT attnotnull FROM pg_attribute WHERE attrelid = 'courses'::regclass AND attname = 'methodology';
SELECT methodology = 'lecture' FROM courses WHERE id = 90001;
SELECT methodology = 'project' FROM courses WHERE id = 90002;
