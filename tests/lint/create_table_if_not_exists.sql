-- CREATE TABLE IF NOT EXISTS of an existing table is a no-op: users stays existing.
-- expect: index-not-concurrently 5:1

CREATE TABLE IF NOT EXISTS users (id bigint PRIMARY KEY);
CREATE INDEX idx_users_last_login ON users (last_login);
