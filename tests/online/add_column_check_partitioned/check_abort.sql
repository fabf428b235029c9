SELECT NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'school_year' AND NOT attisdropped);
SELECT count(*) = 2 FROM users WHERE id IN (90001, 90002);
