INSERT INTO users (id, email, password_hash, role, last_login) VALUES (90001, 'old@online.test', 'h', 'student', '2026-03-01 08:00');
UPDATE users SET last_login = '2026-03-02 09:00' WHERE id = 90001;
