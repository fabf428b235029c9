SELECT NOT attnotnull FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'role';
SELECT role IS NULL FROM users WHERE id = 90002;
SELECT role = 'teacher' FROM users WHERE id = 90001;
SELECT convalidated FROM pg_constraint WHERE conrelid = 'users'::regclass AND conname = 'users_role_check';
