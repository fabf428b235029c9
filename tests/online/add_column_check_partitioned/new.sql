INSERT INTO users (id, email, password_hash, role, school_year) VALUES (90002, 'new@online.test', 'h', 'student', 8);
UPDATE users SET school_year = 9 WHERE id = 90001;
