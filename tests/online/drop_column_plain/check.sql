SELECT NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'courses'::regclass AND attname = 'methodology' AND NOT attisdropped);
SELECT title = 'Old, renamed' FROM courses WHERE id = 90001;
