INSERT INTO users (id, email, password_hash, role, last_name) VALUES (90001, 'old@online.test', 'h', 'student', 'Otieno');
