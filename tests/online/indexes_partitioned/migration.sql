CREATE INDEX idx_users_last_name ON users (last_name);
DROP INDEX idx_users_role;
