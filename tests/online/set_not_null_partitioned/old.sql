INSERT INTO users (id, email, password_hash, role, is_active) VALUES (90001, 'old@online.test', 'h', 'student', NULL);
INSERT INTO users (id, email, password_hash, role, is_active) VALUES (90003, 'old3@online.test', 'h', 'student', false);
