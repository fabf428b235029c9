-- read: the login lookup, a user by email (idx_users_email on each users partition).
-- The emails are a sample of the loaded ones.
\set email random(1, {{ emails | length }})
SELECT id, password_hash, role, grade, is_active
FROM users
WHERE email = ({{ emails | sql_array }})[:email];
