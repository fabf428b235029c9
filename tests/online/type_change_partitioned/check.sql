SELECT format_type(atttypid, atttypmod) = 'timestamp with time zone' FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'last_login';
SELECT last_login = '2026-03-02 09:00+00' FROM users WHERE id = 90001;
SELECT last_login = '2026-03-05 00:00+00' FROM users WHERE id = 90002;
SELECT count(*) = 2 FROM user_email_keys WHERE email_key LIKE '%@online.test';
