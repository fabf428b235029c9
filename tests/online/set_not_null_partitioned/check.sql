SELECT attnotnull FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'is_active';
SELECT is_active FROM users WHERE id = 90001;
SELECT is_active FROM users WHERE id = 90002;
SELECT NOT is_active FROM users WHERE id = 90003;
SELECT count(*) = 4 FROM pg_indexes WHERE indexdef LIKE '%(is_active)%' AND tablename LIKE 'users\_%';
SELECT to_regclass('idx_users_active') IS NOT NULL;
SELECT to_regclass('users_0_is_active_idx') IS NOT NULL;
