SELECT to_regclass('idx_users_last_name') IS NULL AND to_regclass('idx_users_role') IS NOT NULL;
