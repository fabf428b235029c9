SELECT NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'enrollments'::regclass AND attname = 'grade' AND NOT attisdropped);
SELECT count(*) = 2 FROM enrollments WHERE id IN (90001, 90002);
