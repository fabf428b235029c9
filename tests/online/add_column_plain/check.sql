SELECT level = 1 AND code IS NULL FROM courses WHERE id = 90001;
SELECT level = 2 AND code = 'M8' FROM courses WHERE id = 90002;
SELECT count(*) = 2 FROM pg_constraint WHERE conrelid = 'courses'::regclass AND conname IN ('courses_code_key', 'courses_mentor_id_fkey') AND convalidated;
SELECT contype = 'u' FROM pg_constraint WHERE conrelid = 'courses'::regclass AND conname = 'courses_code_key';
