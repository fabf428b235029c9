SELECT NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'courses'::regclass AND attname IN ('code', 'level', 'mentor_id') AND NOT attisdropped);
SELECT count(*) = 2 FROM courses WHERE id IN (90001, 90002);
