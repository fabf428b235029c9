INSERT INTO users (id, email, password_hash, role) VALUES (90002, 'new@online.test', 'h', 'student');
SELECT count(*) FROM users WHERE is_active IS NULL;
