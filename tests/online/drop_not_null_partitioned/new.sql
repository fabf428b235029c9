INSERT INTO users (id, email, password_hash, role) VALUES (90002, 'new@online.test', 'h', NULL);
SELECT role FROM users WHERE id = 90001;
