-- A plain index build on a table an earlier migration created blocks its writes.
-- expect: index-not-concurrently 4:1

CREATE INDEX idx_users_last_login ON users (last_login);
