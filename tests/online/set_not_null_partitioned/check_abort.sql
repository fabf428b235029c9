SELECT NOT attnotnull FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'is_active';
SELECT is_active IS NULL FROM users WHERE id = 90001;
SELECT is_active FROM users WHERE id = 90002;
