SELECT school_year = 9 FROM users WHERE id = 90001;
SELECT school_year = 8 FROM users WHERE id = 90002;
SELECT convalidated FROM pg_constraint WHERE conrelid = 'users'::regclass AND conname = 'users_school_year_check';
