SELECT max_students = 50 AND is_active FROM courses WHERE id = 90001;
SELECT max_students = 40 AND is_active IS NULL FROM courses WHERE id = 90002;
SELECT column_default = '40' FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'courses' AND column_name = 'max_students';
SELECT column_default IS NULL FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'courses' AND column_name = 'is_active';
