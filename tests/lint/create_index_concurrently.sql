-- transactional: false
-- The safe rewrite: CONCURRENTLY, in a non-transactional migration.
-- expect: clean
-- expect-not: index-not-concurrently
-- expect-not: cannot-run-in-transaction

CREATE INDEX CONCURRENTLY idx_users_last_login ON users (last_login);
