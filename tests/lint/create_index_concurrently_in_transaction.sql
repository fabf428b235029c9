-- CONCURRENTLY in a transactional migration cannot run at all.
-- expect: cannot-run-in-transaction 4:1

CREATE INDEX CONCURRENTLY idx_users_last_login ON users (last_login);
