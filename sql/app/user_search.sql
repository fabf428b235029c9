-- Full-text user search (name or email). The tsvector expression must be exactly the one
-- of idx_users_fts (migrations/0002_users.sql) for the GIN index to be used.
SELECT u.id, u.first_name, u.last_name, u.email, u.role
FROM users u
WHERE to_tsvector('english',
          coalesce(u.first_name, '') || ' ' || coalesce(u.last_name, '') || ' ' || coalesce(u.email, ''))
      @@ websearch_to_tsquery('english', %(query)s)
ORDER BY u.id
LIMIT 50
