SELECT max_students = 40 AND is_active IS NULL FROM courses WHERE id = 90002;
SELECT column_default = '50' FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'courses' AND column_name = 'max_students';
