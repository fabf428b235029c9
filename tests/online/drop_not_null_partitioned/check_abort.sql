SELECT attnotnull FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'role';
SELECT role = 'student' FROM users WHERE id = 90002;
