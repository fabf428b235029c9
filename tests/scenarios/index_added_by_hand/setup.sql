CREATE INDEX idx_users_last_login ON users (last_login);
