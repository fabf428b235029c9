INSERT INTO users (id, email, password_hash, role, last_login) VALUES (90002, 'new@online.test', 'h', 'teacher', '2026-03-01 08:00+02');
SELECT last_login FROM users WHERE id = 90001;
UPDATE users SET last_login = '2026-03-05 00:00+00' WHERE id = 90002;
