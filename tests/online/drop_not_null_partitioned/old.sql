INSERT INTO users (id, email, password_hash, role) VALUES (90001, 'old@online.test', 'h', 'teacher');
