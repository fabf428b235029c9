-- transactional: false
-- An allow that matches no finding is stale: reported so it does not outlive its reason.
-- expect: bad-allow 5:1

-- lint: allow index-not-concurrently (an old habit)
CREATE INDEX CONCURRENTLY idx_users_last_login ON users (last_login);
